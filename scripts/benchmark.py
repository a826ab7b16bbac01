#!/usr/bin/env python3
"""Fashion-MNIST CNN: the usual PyTorch loop against nnrun, side by side on one machine.

Contenders, each trained from scratch on the same machine in one run:
  reference     the tutorials' loop, written out below: torchvision FashionMNIST with
                ToTensor + Normalize through a DataLoader (batch 64, shuffled), the tutorials'
                3-block CNN, SGD lr 0.01 momentum 0.9, 5 epochs;
  nnrun-same    nnrun's own training of the same model and hyper-parameters;
  PRESET        each preset of --presets (default fashion_fast, the fastest to 91.5%), once
                per seed in --seeds; each seed's final test accuracy and training seconds,
                and their spread, are printed under the table.
Test accuracy is measured after every epoch, outside the timed part. Each epoch's time starts
at the epoch (the reference's at its first batch, nnrun's when its epoch begins). Printed per
contender: seconds per epoch, time to the target test accuracy, final accuracy, ratios to the
reference. Also printed: nnrun's start-up (imports, config composition), its set-up before
epoch 1 (data onto the device, the model) and its per-epoch bookkeeping (metrics.csv, two
checkpoints). With --out the table is appended to that Markdown file.

    python scripts/benchmark.py --data-dir ../shared/data [--device cpu|cuda] [--seeds 0,1,2]
        [--presets fashion_fast,fashion_93] [--skip-same] [--out docs/benchmarks-archive.md]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn


class TutorialCNN(nn.Module):
    """The tutorials' ConvNeuralNetwork, as they write it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1)
        self.fc1, self.fc2, self.fc3 = nn.Linear(128 * 3 * 3, 512), nn.Linear(512, 512), nn.Linear(512, 10)
        self.dropout = nn.Dropout(0.4)
        self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(32), nn.BatchNorm2d(64), nn.BatchNorm2d(128)
        self.bn_fc1, self.bn_fc2 = nn.BatchNorm1d(512), nn.BatchNorm1d(512)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.max_pool2d(F.relu(self.bn3(self.conv3(x))), 2)
        x = self.dropout(F.relu(self.bn_fc1(self.fc1(torch.flatten(x, 1)))))
        x = self.dropout(F.relu(self.bn_fc2(self.fc2(x))))
        return self.fc3(x)


def reference_loop(data_dir: Path, device: torch.device, epochs: int) -> Dict:
    """The usual loop: per-sample transforms and a DataLoader, as in the tutorials."""
    from torchvision import datasets, transforms

    root = Path(tempfile.mkdtemp(prefix="bench-fmnist-"))
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for packed in (data_dir / "FashionMNIST" / "raw").glob("*.gz"):  # torchvision reads them raw
        with gzip.open(packed) as source, open(raw / packed.stem, "wb") as target:
            shutil.copyfileobj(source, target)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    train_set = datasets.FashionMNIST(str(root), train=True, download=False, transform=transform)
    test_set = datasets.FashionMNIST(str(root), train=False, download=False, transform=transform)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
    torch.manual_seed(0)
    model = TutorialCNN().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    epoch_seconds, accuracies = [], []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        _synchronize(device)
        epoch_seconds.append(time.perf_counter() - started)
        accuracies.append(_reference_accuracy(model, test_loader, device))
    shutil.rmtree(root)
    return {"epoch_seconds": epoch_seconds, "accuracies": accuracies}


@torch.no_grad()
def _reference_accuracy(model, loader, device) -> float:
    model.eval()
    correct = sum((model(x.to(device)).argmax(1) == y.to(device)).sum().item() for x, y in loader)
    return correct / len(loader.dataset)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def nnrun_training(overrides: List[str], data_dir: Path, device: str, work: Path) -> Dict:
    """nnrun's own path (compose, train() with its checkpoints and metrics.csv); the test
    accuracy after each epoch is read from last.pt, outside the timed part."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from nnrecipes.components.models import model_from_checkpoint
    from nnrecipes.core.config import config_dir
    from nnrecipes.core.registry import register_configs
    from nnrecipes.core.task import make_loss
    from nnrecipes.data import build_data
    from nnrecipes.records.checkpoint import load_checkpoint
    from nnrecipes.run import loop
    from nnrecipes.run import train as training
    from nnrecipes.run.engine import evaluate

    everything = [*overrides, f"dataset.data_dir={data_dir}", f"device={device}",
                  "trainer.progress=false"]
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=everything)
    test = build_data(cfg.dataset, cfg.seed, torch.device(device)).test
    run_dir = work / "-".join(overrides).replace("/", "_")[:80]
    starts, marks, accuracies = [], [], []
    train_and_validate = loop.train_and_validate

    def timed_epoch(run, epoch):
        # Each epoch's wall time starts here, as the reference's does at its first batch: the
        # set-up before epoch 1 (data onto the device, the model) is reported on its own.
        starts.append(time.perf_counter())
        return train_and_validate(run, epoch)

    def after_epoch(epoch, row, monitor):
        marks.append(time.perf_counter())
        saved = load_checkpoint(run_dir / "checkpoints" / "last.pt")
        model = model_from_checkpoint(saved).to(device)
        loss = make_loss("multiclass", saved["stats"])
        accuracies.append(evaluate(model, test.x, test.y, loss, "multiclass", 2048)["accuracy"])

    started = time.perf_counter()
    # Every epoch's last.pt is read for its test accuracy (Fashion-MNIST's epochs are longer
    # than the second between writes anyway).
    with mock.patch.object(loop, "train_and_validate", timed_epoch), \
            mock.patch.object(loop, "WRITE_EVERY_SECONDS", 0):
        summary = training.train(cfg, run_dir, everything, on_epoch_end=after_epoch)
    rows = (run_dir / "metrics.csv").read_text().splitlines()[1:]
    epoch_seconds = [float(line.split(",")[-1]) for line in rows]
    walls = [mark - start for start, mark in zip(starts, marks)]
    return {"epoch_seconds": epoch_seconds, "accuracies": accuracies,
            "bookkeeping": [wall - sec for wall, sec in zip(walls, epoch_seconds)],
            "epoch_walls": walls, "set_up": starts[0] - started,
            "final_test": summary["test"]["accuracy"]}


def time_to(target: float, result: Dict) -> Optional[float]:
    walls = result.get("epoch_walls", result["epoch_seconds"])
    for epoch, accuracy in enumerate(result["accuracies"]):
        if accuracy >= target:
            return sum(walls[: epoch + 1])
    return None


def startup_seconds() -> Dict[str, float]:
    """Wall time of `nnrun --help` (imports + compose) and of importing the training stack."""
    def wall(command: List[str]) -> float:
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started

    nnrun = shutil.which("nnrun") or str(Path(sys.executable).parent / "nnrun")
    return {"nnrun --help": min(wall([nnrun, "--help"]) for _ in range(3)),
            "python -c 'import nnrecipes.run.train'":
                min(wall([sys.executable, "-c", "import nnrecipes.run.train"]) for _ in range(3))}


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def report(results: Dict[str, Dict], target: float, device: torch.device,
           startup: Dict[str, float], command: str) -> str:
    reference = results["reference"]
    ref_epoch = sum(reference["epoch_seconds"]) / len(reference["epoch_seconds"])
    ref_time = time_to(target, reference)
    lines = [f"### Fashion-MNIST CNN on {device.type.upper()}: {machine(device)}",
             "", f"{datetime.date.today()} · `{command}`", "",
             f"| contender | s/epoch | × faster per epoch | time to {target:.1%} test | "
             "× faster to target | final test accuracy | epochs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, result in results.items():
        per_epoch = sum(result["epoch_seconds"]) / len(result["epoch_seconds"])
        reached = time_to(target, result)
        speedup = f"{ref_time / reached:.1f}" if reached and ref_time else "-"
        lines.append(f"| {name} | {per_epoch:.2f} | {ref_epoch / per_epoch:.2f} | "
                     f"{f'{reached:.1f} s' if reached else 'not reached'} | {speedup} | "
                     f"{result['accuracies'][-1]:.4f} | {len(result['accuracies'])} |")
    lines += ["", "Test accuracy after each epoch: " + "; ".join(
        f"{name} " + ", ".join(f"{a:.4f}" for a in result["accuracies"])
        for name, result in results.items()), ""]
    lines += _spread(results, target, ref_time)
    bookkeeping = [b for name, r in results.items() if name != "reference"
                   for b in r.get("bookkeeping", [])]
    set_ups = [r["set_up"] for r in results.values() if "set_up" in r]
    lines.append("nnrun overhead: per-epoch bookkeeping (metrics.csv + last.pt/best.pt) "
                 f"{1000 * sum(bookkeeping) / max(len(bookkeeping), 1):.0f} ms on average; "
                 "set-up before epoch 1 (data onto the device, the model; outside the times "
                 "above, as the reference's data sets and DataLoader are) "
                 f"{sum(set_ups) / max(len(set_ups), 1):.2f} s on average; "
                 "start-up " + ", ".join(f"`{k}` {v:.2f} s" for k, v in startup.items()) + ".")
    return "\n".join(lines) + "\n"


def _spread(results: Dict[str, Dict], target: float, ref_time: Optional[float]) -> List[str]:
    """Per preset run on several seeds: each seed's final test accuracy and seconds of training
    (its epochs' wall times), then the mean ± std and the time to the target."""
    lines = []
    for preset in dict.fromkeys(name.split(" seed ")[0] for name in results if " seed " in name):
        runs = {name: result for name, result in results.items()
                if name.startswith(f"{preset} seed ")}
        finals = [result["accuracies"][-1] for result in runs.values()]
        seconds = [sum(result["epoch_walls"]) for result in runs.values()]
        each = "; ".join(f"seed {name.split(' seed ')[1]} {final:.4f} in {sec:.1f} s"
                         for name, final, sec in zip(runs, finals, seconds))
        line = (f"{preset} over {len(runs)} seeds: {each}. Final test accuracy "
                f"{statistics.mean(finals):.4f} ± {statistics.stdev(finals):.4f} (min "
                f"{min(finals):.4f}), training {statistics.mean(seconds):.1f} ± "
                f"{statistics.stdev(seconds):.1f} s (slowest {max(seconds):.1f} s)")
        reached = [time_to(target, result) for result in runs.values()]
        line += f"; {target:.1%} reached by {sum(r is not None for r in reached)} of {len(runs)}"
        if all(reached):
            line += (f", in {statistics.mean(reached):.1f} ± {statistics.stdev(reached):.1f} s "
                     f"(slowest {max(reached):.1f} s)")
            if ref_time:
                line += f"; × faster to target: {ref_time / max(reached):.1f} for the slowest seed"
        lines += [line + ".", ""]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the reference loop")
    parser.add_argument("--target", type=float, default=0.915)
    parser.add_argument("--out", type=Path, help="append the table to this Markdown file")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-same", action="store_true", help="leave out nnrun-same")
    parser.add_argument("--seeds", default="0", help="seeds of each preset, e.g. 0,1,2")
    parser.add_argument("--presets", default="fashion_fast",
                        help="experiment presets to run on each seed, e.g. fashion_fast,fashion_93")
    args = parser.parse_args()
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp(prefix="bench-runs-"))
    results: Dict[str, Dict] = {}
    if not args.skip_reference:
        results["reference"] = reference_loop(args.data_dir, device, args.epochs)
        print("reference", results["reference"], flush=True)
    same = ["model=cnn", "dataset=fashion_mnist", "optimizer=sgd", "optimizer.lr=0.01",
            "optimizer.momentum=0.9", "scheduler=none", "dataset.batch_size=64",
            "dataset.val_size=100", "model.fc_sizes=[512,512]", f"trainer.epochs={args.epochs}"]
    if not args.skip_same:
        results["nnrun-same"] = nnrun_training(same, args.data_dir, args.device, work)
        print("nnrun-same", results["nnrun-same"], flush=True)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    for preset in args.presets.split(","):
        for seed in seeds:
            name = preset + (f" seed {seed}" if len(seeds) > 1 else "")
            results[name] = nnrun_training([f"+experiment={preset}", f"seed={seed}"],
                                           args.data_dir, args.device, work)
            print(name, results[name], flush=True)
    shutil.rmtree(work)
    if "reference" not in results:
        return 0
    command = "python scripts/benchmark.py " + " ".join(sys.argv[1:])
    table = report(results, args.target, device, startup_seconds(), command)
    print(table)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
