#!/usr/bin/env python3
"""Training speed of torchvision's resnet18: nnrun against plain PyTorch loops, side by side.

The same image folder (random RGB pictures at each size, 10 classes) is trained on by:
- ``nnrun model=torchvision model.arch=resnet18`` (images decoded once and held as uint8,
  normalisation inside the model, channels-last);
- torchvision's usual loop: ``ImageFolder`` + ``ToTensor`` + ``Normalize`` through a
  ``DataLoader`` (decoding every epoch), the network as torchvision builds it;
- the same loop over tensors decoded beforehand (``TensorDataset``): the fastest plain loop.
All with Adam (lr 1e-3), cross-entropy, batch 64, one thread per core. Images per second of the
second epoch (the first warms up), training only.

    python scripts/pretrained_speed.py [--images 1024] [--sizes 64 128]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

BATCH = 64


def write_folder(root: Path, count: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for index in range(count):
        path = root / f"class_{index % 10}" / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def nnrun_rate(folder: Path, size: int, work: Path) -> float:
    run_dir = work / f"nnrun_{size}"
    subprocess.run([sys.executable, "-m", "nnrecipes.cli", "dataset=image_folder",
                    f"dataset.path={folder}", f"dataset.batch_size={BATCH}", "dataset.val_size=64",
                    "model=torchvision", "model.arch=resnet18", "optimizer=adam",
                    "optimizer.lr=0.001", "scheduler=none", "trainer.epochs=2",
                    "trainer.plots=false", "trainer.baseline=off", "trainer.progress=false",
                    f"hydra.run.dir={run_dir}"], check=True, capture_output=True)
    with open(run_dir / "metrics.csv", newline="") as handle:
        second = list(csv.DictReader(handle))[1]
    train = json.loads((run_dir / "summary.json").read_text())["samples"]["train"]
    return train // BATCH * BATCH / float(second["seconds"])  # the last short batch is skipped


def plain_epoch_rate(loader, model, optimizer) -> float:
    """Images per second of one epoch of the usual loop."""
    import torch
    import torch.nn.functional as F

    model.train()
    started, seen = time.perf_counter(), 0
    for x, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        seen += len(x)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    return seen / (time.perf_counter() - started)


def plain_rate(folder: Path, preload: bool) -> float:
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from torchvision import datasets, models, transforms

    torch.manual_seed(0)
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize([0.5] * 3, [0.25] * 3)])
    data = datasets.ImageFolder(str(folder), transform=transform)
    if preload:
        xs, ys = zip(*(data[index] for index in range(len(data))))
        data = TensorDataset(torch.stack(xs), torch.tensor(ys))
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, drop_last=True)
    model = models.resnet18(num_classes=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    plain_epoch_rate(loader, model, optimizer)  # warm-up epoch
    return plain_epoch_rate(loader, model, optimizer)


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args(argv)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.images} images, "
          f"batch {BATCH}; images per second in training, second epoch")
    print("| size | nnrun | ImageFolder + DataLoader | preloaded tensors | nnrun / best plain |")
    print("| --- | ---: | ---: | ---: | ---: |")
    slower = False
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            folder = Path(scratch) / f"images_{size}"
            write_folder(folder, args.images, size)
            rates: dict[str, Callable[[], float]] = {
                "nnrun": lambda: nnrun_rate(folder, size, Path(scratch)),
                "folder": lambda: plain_rate(folder, preload=False),
                "preloaded": lambda: plain_rate(folder, preload=True)}
            measured = {name: rate() for name, rate in rates.items()}
            ratio = measured["nnrun"] / max(measured["folder"], measured["preloaded"])
            slower |= ratio < 1
            print(f"| {size} | {measured['nnrun']:.1f} | {measured['folder']:.1f} | "
                  f"{measured['preloaded']:.1f} | {ratio:.2f}x |", flush=True)
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
