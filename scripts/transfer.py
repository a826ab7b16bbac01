#!/usr/bin/env python3
"""Transfer learning on real data, offline: does ``model.init`` from an earlier run help?

Fashion-MNIST split by class: classes 0-4 (every training image) become one image folder; classes
5-9 with only ``--per-class`` training images each another, their whole test split its
``dataset.test_path``. A model is trained on the first; then on the second from scratch and
with ``model.init=`` that run, the same settings, seeds 0-2. The head cannot be kept (other
classes), so the gain is what the earlier layers learnt.

    python scripts/transfer.py --data-dir ../shared/data [--per-class 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

# One model and one way of training for the source run and both arms of the comparison.
MODEL = ("model=cnn", "model.channels=[32,64,128]", "model.fc_sizes=[256]", "model.dropout=0.3")
TRAINING = ("optimizer=adamw", "optimizer.lr=0.003", "optimizer.weight_decay=0.05",
            "scheduler=onecycle", "trainer.label_smoothing=0.1", "trainer.plots=false",
            "trainer.baseline=off")


def nnrun(*args: str) -> Dict:
    """nnrun in a fresh process, as a user runs it; the run's summary."""
    run_dir = Path(next(arg for arg in args if arg.startswith("hydra.run.dir=")).split("=", 1)[1])
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nnrecipes.cli", *args, "trainer.progress=false"],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"nnrun {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    print(f"  {run_dir.name}: test accuracy {summary['test']['accuracy']:.4f} "
          f"({time.perf_counter() - started:.1f} s)", flush=True)
    return summary


def write_folder(images: np.ndarray, labels: np.ndarray, names: Sequence[str], root: Path) -> None:
    from PIL import Image

    for index, (pixels, label) in enumerate(zip(images, labels)):
        path = root / names[label] / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)


def write_folders(data_dir: Path, work: Path, per_class: int) -> None:
    """source/ (classes 0-4, all training images), few/ (classes 5-9, per_class each) and
    few_test/ (classes 5-9, the whole test split)."""
    from nnrecipes.components.datasets.idx import FASHION_CLASSES, load_idx_split

    folders = [data_dir / "FashionMNIST" / "raw"]
    train_x, train_y = load_idx_split(folders, "train", "Fashion-MNIST")
    test_x, test_y = load_idx_split(folders, "test", "Fashion-MNIST")
    names = [name.replace("/", "-") for name in FASHION_CLASSES]
    source = train_y < 5
    write_folder(train_x[source, 0], train_y[source], names, work / "source")
    rng = np.random.default_rng(0)
    few = np.concatenate([rng.choice(np.flatnonzero(train_y == label), per_class, replace=False)
                          for label in range(5, 10)])
    write_folder(train_x[few, 0], train_y[few], names, work / "few")
    target = test_y >= 5
    write_folder(test_x[target, 0], test_y[target], names, work / "few_test")


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--source-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="a folder to keep the images and runs in")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_folders(args.data_dir.resolve(), work, args.per_class)
        print(f"image folders written in {time.perf_counter() - started:.1f} s", flush=True)
        nnrun("dataset=image_folder", f"dataset.path={work / 'source'}", *MODEL, *TRAINING,
              "dataset.batch_size=128", f"trainer.epochs={args.source_epochs}",
              f"hydra.run.dir={work / 'source_run'}")
        few = ("dataset=image_folder", f"dataset.path={work / 'few'}",
               f"dataset.test_path={work / 'few_test'}", "dataset.batch_size=16", *MODEL,
               *TRAINING, f"trainer.epochs={args.epochs}")
        results: Dict[str, List[float]] = {"scratch": [], "init": []}
        for seed in range(args.seeds):
            for arm, extra in (("scratch", ()), ("init", (f"model.init={work / 'source_run'}",))):
                summary = nnrun(*few, *extra, f"seed={seed}",
                                f"hydra.run.dir={work / f'{arm}_{seed}'}")
                results[arm].append(summary["test"]["accuracy"])
    gains = [init - scratch for init, scratch in zip(results["init"], results["scratch"])]
    print(f"\nclasses 5-9, {args.per_class} training images each (a tenth of them for "
          f"validation); test: their whole test split, 5,000 images")
    print("| seed | from scratch | model.init (classes 0-4) | gain |\n| --- | --- | --- | --- |")
    for seed, (scratch, init) in enumerate(zip(results["scratch"], results["init"])):
        print(f"| {seed} | {scratch:.4f} | {init:.4f} | {init - scratch:+.4f} |")
    print(f"| mean | {statistics.mean(results['scratch']):.4f} | "
          f"{statistics.mean(results['init']):.4f} | {statistics.mean(gains):+.4f} |")
    return 0 if min(gains) > 0 and statistics.mean(gains) >= 0.03 else 1


if __name__ == "__main__":
    sys.exit(main())
