"""Pretrained networks: torchvision's models by name, weights from torch's hub cache (written here,
as no network is reachable) or from a local HTTP server, freezing that leaves the backbone bit for
bit as it was, model.init from an earlier run, and exports that match the checkpoint."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd
import pytest
import torch
from bad_inputs import error_lines

from nnrecipes.components.models import model_from_checkpoint, pretrained
from nnrecipes.export import FORMATS
from nnrecipes.export import main as export
from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "trainer.baseline=off", "trainer.epochs=1",
         "dataset.batch_size=16")
PLAIN_LOADER = Path(__file__).parents[1] / "scripts" / "plain_loader.py"


def write_colour_folder(root: Path, per_class: int = 32, size: int = 40) -> Path:
    """Two classes of RGB images (bright top half against dark), ``per_class`` each."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("bright", "dark"):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = (rng.random((size, size, 3)) * 255).astype(np.uint8)
            if label == "dark":
                pixels[: size // 2] //= 3
            Image.fromarray(pixels).save(folder / f"{index:03d}.png")
    return root


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    return write_colour_folder(tmp_path_factory.mktemp("colours") / "images")


def fake_imagenet_weights(arch: str, name: str = "IMAGENET1K_V1", seed: int = 0) -> Dict:
    """A state dict of ``arch``'s shapes with seeded random values: stands in for the real file."""
    from torchvision import models

    torch.manual_seed(seed)
    return models.get_model(arch, weights=None).state_dict()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache ($TORCH_HOME) of this test's own."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def _cached(arch: str, hub_cache: Path) -> Path:
    """Where torchvision's file of ``arch``'s IMAGENET1K_V1 weights lies in the hub cache."""
    path = pretrained.cache_file(pretrained.named_weights(arch, "IMAGENET1K_V1"))
    assert path.parent == hub_cache
    return path


def _backbone(state: Dict, head: str) -> Dict:
    """Every tensor of a checkpoint's network but its head's and the fitting of inputs."""
    return {key: value for key, value in state.items()
            if not key.startswith((head, "0."))}


def test_named_weights_load_from_the_hub_cache_offline_and_freezing_keeps_them(
        nnrun, colours, hub_cache):
    weights = fake_imagenet_weights("resnet18")
    path = _cached("resnet18", hub_cache)
    path.parent.mkdir(parents=True)
    torch.save(weights, path)
    run = nnrun("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=32",
                "model=torchvision", "model.weights=IMAGENET1K_V1", "model.freeze=backbone",
                *QUICK)
    saved = load_checkpoint(run.dir, "last.pt")
    # Model(TorchvisionNet(FitInput, resnet18)): pretrained weights standardise the raw pixels
    # themselves, so no statistics of the data come first.
    trained = {key.removeprefix("0.1."): value for key, value in saved["model"].items()
               if key.startswith("0.1.")}
    backbone = {key: value for key, value in weights.items() if not key.startswith("fc.")}
    # every weight, batch-norm mean, variance and count bit for bit as the file has them
    assert len(backbone) == len([key for key in trained if not key.startswith("fc.")])
    for key, value in backbone.items():
        assert torch.equal(trained[key], value), key
    assert trained["fc.weight"].shape == (2, 512)
    # The weights' ImageNet statistics standardise the raw pixels inside the model.
    assert torch.allclose(saved["model"]["0.0.mean"].flatten(),
                          torch.tensor([0.485, 0.456, 0.406]))
    assert saved["config"]["model"]["image_size"] == 32


def test_the_backbone_is_frozen_for_an_epoch_then_trains(nnrun, colours):
    images = ("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=16",
              "model=cnn", "model.channels=[8,16]", "model.fc_sizes=[16]")
    first = nnrun(*images, *QUICK)
    start = load_checkpoint(first.dir, "last.pt")["model"]
    head = f"1.{max(int(key.split('.')[1]) for key in start if key.endswith('.weight'))}"
    frozen = nnrun(*images, *QUICK, f"model.init={first.dir}", "model.freeze=backbone")
    after = load_checkpoint(frozen.dir, "last.pt")["model"]
    norms = [key for key in _backbone(start, head) if "running_mean" in key]
    assert norms, "the test needs a backbone with batch norm"
    for key, value in _backbone(start, head).items():
        assert torch.equal(after[key], value), key
    assert not torch.equal(after[f"{head}.weight"], start[f"{head}.weight"])
    thawed = nnrun(*images, *QUICK, f"model.init={first.dir}", "model.freeze=backbone",
                   "trainer.unfreeze_epoch=1", "trainer.epochs=2")
    later = load_checkpoint(thawed.dir, "last.pt")["model"]
    changed = [key for key, value in _backbone(start, head).items()
               if not torch.equal(later[key], value)]
    assert set(norms) <= set(changed) and len(changed) >= len(_backbone(start, head)) - 2
    rows = thawed.metrics_rows()
    assert [row["epoch"] for row in rows] == ["1", "2"]


def test_a_run_started_from_weights_trains_its_head_alone_first_by_default(nnrun, colours):
    images = ("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=16",
              "model=cnn", "model.channels=[8,16]", "model.fc_sizes=[16]")
    first = nnrun(*images, *QUICK)
    assert "model.freeze=auto" not in first.log  # from scratch: everything trains
    start = load_checkpoint(first.dir, "last.pt")["model"]
    head = f"1.{max(int(key.split('.')[1]) for key in start if key.endswith('.weight'))}"
    one = nnrun(*images, *QUICK, f"model.init={first.dir}")
    assert ("model.freeze=auto: started from model.init, the head alone trains in epoch 1, "
            "everything from epoch 2 (the fine-tuning default); model.freeze=none trains "
            "everything from the start") in one.log
    after = load_checkpoint(one.dir, "last.pt")["model"]
    for key, value in _backbone(start, head).items():
        assert torch.equal(after[key], value), key
    assert not torch.equal(after[f"{head}.weight"], start[f"{head}.weight"])
    two = nnrun(*images, *QUICK, f"model.init={first.dir}", "trainer.epochs=2")
    assert "epoch 2: the backbone is trained too" in two.log
    later = load_checkpoint(two.dir, "last.pt")["model"]
    assert not torch.equal(later["1.0.weight"], start["1.0.weight"])
    # model.freeze=none: the plain defaults, everything trains from the first step
    plain = nnrun(*images, *QUICK, f"model.init={first.dir}", "model.freeze=none")
    assert "model.freeze=auto" not in plain.log
    assert not torch.equal(load_checkpoint(plain.dir, "last.pt")["model"]["1.0.weight"],
                           start["1.0.weight"])


def test_model_init_keeps_the_head_for_the_same_classes(nnrun, colours):
    images = ("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=16",
              "model=cnn", "model.channels=[8]", "model.fc_sizes=[8]")
    first = nnrun(*images, *QUICK)
    # A step of 1e-30 moves no float32 weight: what the run starts from is what it saves (the
    # batch-norm statistics move with the data, as in any training).
    again = nnrun(*images, *QUICK, f"model.init={first.dir}", "optimizer.lr=1e-30",
                  "scheduler=none")
    start, after = (load_checkpoint(run.dir, "last.pt")["model"] for run in (first, again))
    for key, value in start.items():
        if key.endswith((".weight", ".bias")) and not key.startswith("0."):
            assert torch.equal(after[key], value), key
    assert "the head kept (the same classes)" in (again.dir / "nnrun.log").read_text()


def test_a_resumed_fine_tuning_follows_the_same_freezing(nnrun, colours):
    images = ("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=16",
              "model=cnn", "model.channels=[8]", "model.fc_sizes=[8]", "model.freeze=backbone",
              "trainer.unfreeze_epoch=1", "optimizer.backbone_lr_scale=0.1", "scheduler=none")
    whole = nnrun(*images, *QUICK, "trainer.epochs=3")
    part = nnrun(*images, *QUICK, "trainer.epochs=1")
    nnrun(f"resume={part.dir}", "trainer.epochs=3")  # continues in its own folder
    ours, theirs = (load_checkpoint(run.dir, "last.pt")["model"] for run in (whole, part))
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key


class _WeightsServer(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test's output clean
        pass


@pytest.fixture
def weights_server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving tmp_path/served, named as NNRECIPES_WEIGHTS_URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = lambda *args: _WeightsServer(*args, directory=str(served))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(pretrained.MIRROR_VARIABLE, f"http://127.0.0.1:{server.server_port}/")
    yield served
    server.shutdown()
    server.server_close()


def _served_weights(served: Path, hub_cache: Path) -> bytes:
    path = served / _cached("mobilenet_v3_small", hub_cache).name
    torch.save(fake_imagenet_weights("mobilenet_v3_small"), path)
    return path.read_bytes()


def test_weights_are_downloaded_only_when_asked_and_checked(
        nnrun, colours, hub_cache, weights_server, monkeypatch, capsys):
    content = _served_weights(weights_server, hub_cache)
    command = ("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=32",
               "model=torchvision", "model.arch=mobilenet_v3_small",
               "model.weights=IMAGENET1K_V1", *QUICK)
    with pytest.raises(SystemExit) as stopped:  # offline by default: the file is named
        nnrun(*command)
    said = error_lines(capsys.readouterr().out)
    assert stopped.value.code == 2 and len(said) == 1
    assert _cached("mobilenet_v3_small", hub_cache).name in said[0] and str(hub_cache) in said[0]
    # The served file is not torchvision's, so its name's hash does not match: refused.
    with pytest.raises(SystemExit) as stopped:
        nnrun(*command, "model.download=true")
    said = error_lines(capsys.readouterr().out)
    assert stopped.value.code == 2 and "could not be downloaded from http://127.0.0.1" in said[0]
    assert not hub_cache.exists() or not any(hub_cache.iterdir())
    # With the hash of the file served, it is downloaded into the cache and used.
    monkeypatch.setattr(pretrained, "expected_hash",
                        lambda name: hashlib.sha256(content).hexdigest()[:8])
    run = nnrun(*command, "model.download=true")
    assert _cached("mobilenet_v3_small", hub_cache).read_bytes() == content
    assert run.summary["samples"]["train"] > 0


def _check_exports_match(run_dir: Path, tmp_path: Path) -> None:
    saved = load_checkpoint(run_dir, "best.pt")
    x = torch.randint(0, 256, (3, *saved["model_spec"]["input_shape"]), dtype=torch.uint8)
    with torch.no_grad():
        expected = model_from_checkpoint(saved).eval()(x).numpy()
    np.save(tmp_path / "x.npy", x.numpy())
    for fmt in ("onnx", "torchscript"):
        assert export([str(run_dir), "--format", fmt]) == 0
        subprocess.run([sys.executable, str(PLAIN_LOADER), fmt,
                        str(run_dir / "export" / FORMATS[fmt]), str(tmp_path / "x.npy"),
                        str(tmp_path / "y.npy")], check=True, cwd=tmp_path)
        assert np.abs(np.load(tmp_path / "y.npy") - expected).max() <= 1e-4, fmt


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small", "efficientnet_b0",
                                  "vit_b_32"])
def test_a_torchvision_network_trains_predicts_and_exports(arch, nnrun, colours, tmp_path):
    run = nnrun("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=32",
                "model=torchvision", f"model.arch={arch}", *QUICK)
    assert run.summary["samples"] == {"train": 46, "val": 5, "test": 13}
    predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={colours}")
    table = pd.read_csv(predicted.dir / "predictions.csv")
    assert len(table) == 64 and set(table["predicted"]) <= {"bright", "dark"}
    _check_exports_match(run.dir, tmp_path)
    described = json.loads((run.dir / "export" / "model.json").read_text())
    assert described["input_dtype"] == "uint8"


def test_grey_images_are_repeated_and_resized_for_the_weights(nnrun, idx_data_dir, hub_cache):
    path = _cached("resnet18", hub_cache)
    path.parent.mkdir(parents=True)
    torch.save(fake_imagenet_weights("resnet18"), path)
    run = nnrun("dataset=fashion_mnist", f"dataset.data_dir={idx_data_dir}", "model=torchvision",
                "model.weights=IMAGENET1K_V1", "model.image_size=32", "model.freeze=backbone",
                *QUICK)
    saved = load_checkpoint(run.dir, "best.pt")
    assert saved["model_spec"]["input_shape"] == [1, 28, 28]
    fit = model_from_checkpoint(saved).eval()[0][0]
    grey = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    fitted = fit(grey)  # three channels at the asked size, in the weights' statistics
    assert fitted.shape == (2, 3, 32, 32)
    pixels = fitted * fit.std + fit.mean
    assert torch.allclose(pixels[:, 0], pixels[:, 1], atol=1e-5)
    assert torch.allclose(pixels[:, 0], pixels[:, 2], atol=1e-5)
    assert 0 <= float(pixels.min()) and float(pixels.max()) <= 1 + 1e-5


def test_a_checkpoint_predicts_without_the_weights_file(nnrun, colours, hub_cache, tmp_path):
    path = _cached("resnet18", hub_cache)
    path.parent.mkdir(parents=True)
    torch.save(fake_imagenet_weights("resnet18"), path)
    run = nnrun("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=32",
                "model=torchvision", "model.weights=IMAGENET1K_V1", *QUICK)
    path.unlink()  # another machine: the checkpoint alone predicts
    predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={colours}")
    assert len(pd.read_csv(predicted.dir / "predictions.csv")) == 64


def test_a_state_dict_file_and_model_init_across_classes(nnrun, colours, tmp_path):
    from torchvision import models

    torch.manual_seed(3)
    weights = models.get_model("resnet18", weights=None).state_dict()
    torch.save({"state_dict": weights}, tmp_path / "mine.pth")
    run = nnrun("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=32",
                "model=torchvision", f"model.weights={tmp_path / 'mine.pth'}",
                "model.freeze=backbone", *QUICK)
    trained = load_checkpoint(run.dir, "last.pt")["model"]
    assert torch.equal(trained["1.1.conv1.weight"], weights["conv1.weight"])
    # Other classes: everything but the head from that run, the head new.
    other = write_colour_folder(tmp_path / "other", per_class=10)
    (other / "bright").rename(other / "light")
    again = nnrun("dataset=image_folder", f"dataset.path={other}", "dataset.image_size=32",
                  "model=torchvision", f"model.init={run.dir}", "model.freeze=backbone", *QUICK)
    after = load_checkpoint(again.dir, "last.pt")
    assert after["class_names"] == ["dark", "light"]
    assert torch.equal(after["model"]["1.1.layer4.1.bn2.running_var"],
                       trained["1.1.layer4.1.bn2.running_var"])


def test_weights_saved_from_ddp_load_without_their_prefix(nnrun, colours, tmp_path):
    from torchvision import models

    torch.manual_seed(4)
    weights = models.get_model("resnet18", weights=None).state_dict()
    torch.save({f"module.{key}": value for key, value in weights.items()}, tmp_path / "ddp.pth")
    run = nnrun("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=32",
                "model=torchvision", f"model.weights={tmp_path / 'ddp.pth'}",
                "model.freeze=backbone", *QUICK)
    trained = load_checkpoint(run.dir, "last.pt")["model"]
    assert torch.equal(trained["1.1.conv1.weight"], weights["conv1.weight"])
    assert "every layer is named under 'module.' (saved from a DistributedDataParallel " \
        "wrapper); taken without that prefix" in (run.dir / "nnrun.log").read_text()


def test_the_residual_network_learns_small_images(nnrun, idx_data_dir):
    run = nnrun("dataset=mnist", f"dataset.data_dir={idx_data_dir}", "model=resnet",
                "model.widths=[16,32]", "model.blocks=2", "trainer.epochs=6",
                "optimizer.lr=0.01", "dataset.batch_size=16", "trainer.plots=false",
                "trainer.baseline=off")
    saved = load_checkpoint(run.dir, "best.pt")
    assert len([key for key in saved["model"] if key.endswith(".body.0.weight")]) == 4
    skips = [key for key in saved["model"] if ".skip.0.weight" in key]
    assert len(skips) == 1  # one 1x1 projection where the width doubles and the image halves
    assert run.summary["test"]["accuracy"] >= 0.9


def test_a_safetensors_weights_file_loads(nnrun, colours, tmp_path):
    from safetensors.torch import save_file

    weights = fake_imagenet_weights("mobilenet_v3_small", seed=5)
    save_file({key: value.contiguous() for key, value in weights.items()},
              str(tmp_path / "mine.safetensors"))
    run = nnrun("dataset=image_folder", f"dataset.path={colours}", "dataset.image_size=32",
                "model=torchvision", "model.arch=mobilenet_v3_small",
                f"model.weights={tmp_path / 'mine.safetensors'}", "model.freeze=backbone", *QUICK)
    trained = load_checkpoint(run.dir, "last.pt")["model"]
    assert torch.equal(trained["1.1.features.0.0.weight"], weights["features.0.0.weight"])
