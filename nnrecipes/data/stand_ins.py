"""Small generated stand-ins for data sets that live in files (IDX images, scikit-learn's California
cache), so smoke runs and tests work without network or real data."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Tuple

import numpy as np


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """An IDX file of unsigned bytes, as MNIST ships them (``path`` + ``.gz`` if compressed)."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def synthetic_digits(count: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 images: class k lights up its own 4x4 square, on a noisy background."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 60, size=(count, 28, 28))
    for index, label in enumerate(labels):
        row, col = 2 + 6 * (label // 4), 2 + 6 * (label % 4)
        images[index, row:row + 4, col:col + 4] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_idx_dataset(folder: Path, compress: bool, train: int = 300, test: int = 100) -> None:
    """The four MNIST-format files of a small synthetic data set in ``folder``."""
    for split, count in (("train", train), ("t10k", test)):
        images, labels = synthetic_digits(count, seed=count)
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress)


def write_california_cache(folder: Path, rows: int = 500) -> None:
    """A small stand-in for scikit-learn's California cache: target column, then 8 features."""
    import joblib

    rng = np.random.default_rng(0)
    features = rng.uniform(1.0, 10.0, size=(rows, 8))
    target = features[:, 0] * 30000 + rng.normal(0, 5000, rows) + 50000
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(np.column_stack([target, features]), folder / "cal_housing_py3.pkz", compress=3)


def write_table(root: Path, rows: int = 300) -> list:
    """A small CSV with numbers, a string column and a few missing cells; returns the overrides
    that train on it."""
    import pandas as pd

    rng = np.random.default_rng(0)
    size = rng.uniform(20, 200, rows)
    city = rng.choice(["north", "south", "east"], rows)
    price = size * 3 + (city == "north") * 100 + rng.normal(0, 20, rows)
    frame = pd.DataFrame({"size": size, "city": city, "rooms": rng.integers(1, 6, rows),
                          "expensive": np.where(price > np.median(price), "yes", "no")})
    path = root / "table" / "homes.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return [f"dataset.path={path}", "dataset.target=expensive"]


def write_image_folder(root: Path, per_class: int = 30) -> list:
    """Synthetic digits as PNG files, one sub-folder per class; returns the overrides that train
    on them."""
    from PIL import Image

    images, labels = synthetic_digits(per_class * 10, seed=1)
    folder = root / "image_folder"
    for index, (pixels, label) in enumerate(zip(images, labels)):
        path = folder / f"class_{label}" / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    return [f"dataset.path={folder}"]
