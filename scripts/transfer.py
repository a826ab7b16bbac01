#!/usr/bin/env python3
"""Transfer learning on real data, offline: does ``model.init`` from an earlier run help, with
nothing but ``model.init=`` added to nnrun's defaults?

Fashion-MNIST split by class: classes 0-4 (``--source-per-class`` training images each, every
one by default, and 1,000 each) become source image folders; classes 5-9 with only
``--per-class`` training images each the target folder, their whole test split its
``dataset.test_path``. A model is trained on each source with the default settings; then the
target is trained from scratch and with ``model.init=`` each source run, default settings on
both arms (a run started from weights takes nnrun's fine-tuning defaults, run/fine_tuning.py),
seeds 0-2. The head cannot be kept (other classes), so the gain is what the earlier layers
learnt. Exit 0 when every seed gains at least 3 points from the largest source and none loses
from the others.

    python scripts/transfer.py --data-dir ../shared/data [--keep DIR] [--init-keys KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

# The comparison is of defaults: the data set and the picture size, nothing else set.
TARGET = ("dataset=image_folder", "model=cnn", "trainer.plots=false")


def nnrun(*args: str) -> Dict:
    """nnrun in a fresh process, as a user runs it; the run's summary (a finished run folder
    kept from an earlier call with --keep is read, not run again)."""
    run_dir = Path(next(arg for arg in args if arg.startswith("hydra.run.dir=")).split("=", 1)[1])
    started = time.perf_counter()
    if not (run_dir / "summary.json").is_file():
        done = subprocess.run([sys.executable, "-m", "nnrecipes.cli", *args,
                               "trainer.progress=false"], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"nnrun {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    print(f"  {run_dir.name}: test accuracy {summary['test']['accuracy']:.4f} "
          f"({time.perf_counter() - started:.1f} s)", flush=True)
    return summary


def write_folder(images: np.ndarray, labels: np.ndarray, names: Sequence[str], root: Path) -> None:
    from PIL import Image

    if root.is_dir():  # written by an earlier call with --keep
        return
    for index, (pixels, label) in enumerate(zip(images, labels)):
        path = root / names[label] / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)


def _drawn(labels: np.ndarray, classes: range, per_class: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.choice(np.flatnonzero(labels == label),
                                      min(per_class, int((labels == label).sum())),
                                      replace=False) for label in classes])


def write_folders(data_dir: Path, work: Path, per_class: int, source_sizes: Sequence[int]):
    """source_<n>/ (classes 0-4, n training images each), few/ (classes 5-9, per_class each)
    and few_test/ (classes 5-9, the whole test split)."""
    from nnrecipes.components.datasets.idx import FASHION_CLASSES, load_idx_split

    folders = [data_dir / "FashionMNIST" / "raw"]
    train_x, train_y = load_idx_split(folders, "train", "Fashion-MNIST")
    test_x, test_y = load_idx_split(folders, "test", "Fashion-MNIST")
    names = [name.replace("/", "-") for name in FASHION_CLASSES]
    for size in source_sizes:
        chosen = _drawn(train_y, range(5), size)
        write_folder(train_x[chosen, 0], train_y[chosen], names, work / f"source_{size}")
    few = _drawn(train_y, range(5, 10), per_class)
    write_folder(train_x[few, 0], train_y[few], names, work / "few")
    target = test_y >= 5
    write_folder(test_x[target, 0], test_y[target], names, work / "few_test")


def compare(work: Path, args) -> Dict[str, List[float]]:
    """Test accuracies: scratch, and init_<n> for each source size, one per seed."""
    for size in args.source_per_class:
        nnrun(*TARGET, f"dataset.path={work / f'source_{size}'}",
              f"trainer.epochs={args.source_epochs}",
              f"hydra.run.dir={work / f'source_{size}_run'}")
    few = (*TARGET, f"dataset.path={work / 'few'}", f"dataset.test_path={work / 'few_test'}")
    arms = {"scratch": tuple(args.keys)}
    for size in args.source_per_class:
        arms[f"init_{size}"] = (f"model.init={work / f'source_{size}_run'}", *args.keys,
                                *args.init_keys)
    results: Dict[str, List[float]] = {arm: [] for arm in arms}
    for seed in range(args.seeds):
        for arm, extra in arms.items():
            keys = extra if arm == "scratch" else extra[1:]
            name = re.sub(r"[^\w.-]+", "-", "_".join([arm, str(seed), *keys]))
            results[arm].append(nnrun(*few, *extra, f"seed={seed}",
                                      f"hydra.run.dir={work / name}")["test"]["accuracy"])
    return results


def report(results: Dict[str, List[float]], args) -> bool:
    print(f"\nclasses 5-9, {args.per_class} training images each (a tenth of them for "
          f"validation); test: their whole test split, 5,000 images; default settings"
          + (f", both arms with {' '.join(args.keys)}" if args.keys else "")
          + (f", the init arms with {' '.join(args.init_keys)}" if args.init_keys else ""))
    sizes = args.source_per_class
    print("| seed | from scratch | " + " | ".join(f"model.init ({size:,} a class) | gain"
                                                    for size in sizes) + " |")
    print("| --- " * (2 + 2 * len(sizes)) + "|")
    rows = [*range(args.seeds), "mean"]
    met = True
    for row in rows:
        pick = (lambda values: statistics.mean(values)) if row == "mean" else \
            (lambda values, row=row: values[row])
        scratch = pick(results["scratch"])
        cells = [f"{pick(results[f'init_{size}']):.4f} | "
                 f"{pick(results[f'init_{size}']) - scratch:+.4f}" for size in sizes]
        print(f"| {row} | {scratch:.4f} | " + " | ".join(cells) + " |")
    for index, size in enumerate(sizes):
        gains = [init - scratch for init, scratch in zip(results[f"init_{size}"],
                                                           results["scratch"])]
        goal = 0.03 if index == 0 else 0.0
        met &= min(gains) >= goal
        print(f"source {size:,} a class: smallest gain {min(gains):+.4f} (goal: at least "
              f"{goal:+.2f} on every seed)")
    return met


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--source-per-class", type=int, nargs="+", default=[6000, 1000],
                        help="source sizes, largest first (the first must gain 3 points)")
    parser.add_argument("--source-epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--keys", nargs="*", default=[],
                        help="keys added to both arms (trainer.epochs=30)")
    parser.add_argument("--init-keys", nargs="*", default=[],
                        help="keys added to the model.init arms, to try a recipe")
    parser.add_argument("--keep", type=Path, help="a folder to keep the images and runs in; "
                        "finished runs in it are read, not run again")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_folders(args.data_dir.resolve(), work, args.per_class, args.source_per_class)
        print(f"image folders written in {time.perf_counter() - started:.1f} s", flush=True)
        met = report(compare(work, args), args)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
