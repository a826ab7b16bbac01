"""nnrun-export under faults: every format listed in one model.json, a full disk and a SIGKILL in
the middle of an export leave the previous export as it was and loadable, and a model whose code
is gone or a folder that cannot be written is one line, exit 2."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import error_lines
from conftest import run_cli

from nnrecipes.export import FORMATS
from nnrecipes.export import main as export

QUICK = ("trainer.progress=false", "trainer.plots=false", "trainer.baseline=off",
         "trainer.epochs=1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("export") / "run"
    # Wide enough that its export outgrows a small file system.
    assert run_cli(*QUICK, "model.hidden_sizes=[512,512]", f"hydra.run.dir={run_dir}") == 0
    # The run's console handler writes to the first test's captured output, closed after it.
    logging.getLogger().handlers.clear()
    return run_dir


def _onnx_outputs(path: Path) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    return session.run(None, {"input": np.ones((3, 4), np.float32)})[0]


def test_every_format_exported_is_listed_in_model_json(trained, tmp_path):
    out = tmp_path / "out"
    for fmt in FORMATS:
        assert export([str(trained), "--format", fmt, "--output", str(out)]) == 0
    described = json.loads((out / "model.json").read_text())
    assert described["files"] == {fmt: FORMATS[fmt] for fmt in sorted(FORMATS)}
    assert sorted(path.name for path in out.iterdir()) == sorted([*FORMATS.values(),
                                                                 "model.json"])


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root only, as in CI); skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_leaves_the_previous_export_loadable(trained, small_disk, capsys):
    out = small_disk / "export"
    assert export([str(trained), "--format", "onnx", "--output", str(out)]) == 0
    before, outputs = (out / "model.onnx").read_bytes(), _onnx_outputs(out / "model.onnx")
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - len(before) // 2))
    capsys.readouterr()
    assert export([str(trained), "--format", "onnx", "--output", str(out)]) == 2
    said = error_lines(capsys.readouterr().err.replace("nnrun-export: error:", "error:"))
    assert len(said) == 1 and "No space left on device; free some space, or export elsewhere" \
        in said[0], said
    assert (out / "model.onnx").read_bytes() == before
    assert np.array_equal(_onnx_outputs(out / "model.onnx"), outputs)
    assert [path.name for path in out.iterdir() if path.name.endswith(".tmp")] == []


SLOW_DISK = """
import os, sys, time
real = os.fsync
def slow(descriptor):
    print("writing", flush=True)
    time.sleep(60)
    real(descriptor)
os.fsync = slow
from nnrecipes.export import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_kill_in_the_middle_of_an_export_leaves_the_previous_one(trained, tmp_path):
    out = tmp_path / "out"
    assert export([str(trained), "--format", "onnx", "--output", str(out)]) == 0
    before, outputs = (out / "model.onnx").read_bytes(), _onnx_outputs(out / "model.onnx")
    # The second export stalls while its file is written (a slow disk); then SIGKILL.
    process = subprocess.Popen([sys.executable, "-c", SLOW_DISK, str(trained), "--format", "onnx",
                                "--output", str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert (out / "model.onnx").read_bytes() == before
    assert np.array_equal(_onnx_outputs(out / "model.onnx"), outputs)
    assert json.loads((out / "model.json").read_text())["files"] == {"onnx": "model.onnx"}


def test_an_export_whose_model_code_is_gone_is_one_line(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "gone_net.py").write_text(
        "from torch import nn\n"
        "class Net(nn.Sequential):\n"
        "    def __init__(self, shape, outputs):\n"
        "        super().__init__(nn.Linear(4, outputs))\n")
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert run_cli("model=custom", "model.target=gone_net:Net", *QUICK,
                   f"hydra.run.dir={tmp_path / 'run'}") == 0
    monkeypatch.chdir(tmp_path)
    sys.path.remove(str(project))
    sys.modules.pop("gone_net")
    capsys.readouterr()
    assert export([str(tmp_path / "run"), "--format", "torchscript"]) == 2
    said = _export_said(capsys)
    assert len(said) == 1 and "cannot import gone_net" in said[0], said


def _export_said(capsys) -> list:
    """nnrun-export's own lines on stderr (an earlier in-process run's log handlers may write
    there too, to a stream that test closed)."""
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("nnrun-export")]


def test_an_export_into_a_folder_that_cannot_be_written_is_one_line(trained, tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    assert export([str(trained), "--format", "onnx", "--output", str(blocker / "out")]) == 2
    said = _export_said(capsys)
    assert len(said) == 1 and "a part of this path is a file, not a folder" in said[0], said
    assert export([str(trained), "--format", "onnx", "--output", str(blocker)]) == 2
    assert _export_said(capsys) == [f"nnrun-export: error: --output {blocker} is a file; name a "
                                    f"folder to export into"]
