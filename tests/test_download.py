"""dataset.download=true goes through torchvision's own download code; here against an HTTP server
on 127.0.0.1 serving the real files, so no traffic leaves the machine."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path
from typing import Iterator, List, Tuple

import torchvision.datasets as tv
from conftest import run_cli

QUICK = ("trainer.epochs=1", "trainer.progress=false", "trainer.plots=false")


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[Tuple[str, List[str]]]:
    """An HTTP server on 127.0.0.1 for ``folder``: its base URL, and the paths asked for."""
    asked: List[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", asked
    finally:
        server.shutdown()
        server.server_close()


def test_fashion_mnist_downloads_into_data_dir(shared_data, nnrun, tmp_path, monkeypatch):
    served = shared_data / "FashionMNIST" / "raw"
    # The shared .gz files are re-compressed (same content, other bytes than upstream's), so
    # torchvision is told their checksums; its mirrors, fetching and unpacking run as shipped.
    resources = [(name, hashlib.md5((served / name).read_bytes()).hexdigest())
                 for name, _ in tv.FashionMNIST.resources]
    monkeypatch.setattr(tv.FashionMNIST, "resources", resources)
    data_dir = tmp_path / "data"
    with serving(served) as (url, asked):
        monkeypatch.setattr(tv.FashionMNIST, "mirrors", [url])
        run = nnrun("dataset=fashion_mnist", "dataset.download=true",
                    f"dataset.data_dir={data_dir}", "model=perceptron", "dataset.limit=2000",
                    *QUICK)
    assert set(asked) == {f"/{name}" for name, _ in resources}  # torchvision asks HEAD, then GET
    raw = data_dir / "FashionMNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 47_040_016
    assert run.summary["samples"]["test"] == 10_000
    assert run.summary["test"]["accuracy"] > 0.6


def test_an_offline_download_says_what_it_tried(tmp_path, monkeypatch, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    monkeypatch.setattr(tv.FashionMNIST, "mirrors", [closed])
    code = run_cli("dataset=fashion_mnist", "dataset.download=true",
                   f"dataset.data_dir={tmp_path / 'data'}", *QUICK,
                   f"hydra.run.dir={tmp_path / 'run'}")
    said = capsys.readouterr()
    error = [line for line in (said.out + said.err).splitlines() if line.startswith("error:")]
    assert code == 2
    assert len(error) == 1 and "could not be downloaded" in error[0] and closed in error[0]
    assert "Copy the four IDX files there by hand" in error[0]
