"""Image data sets: MNIST and Fashion-MNIST from IDX files, scikit-learn's 8x8 digits.

IDX files are read directly, gzip-compressed or not, so a folder holding only the ``.gz`` files
works without network and nothing is ever written next to the data. torchvision is used only to
download, when ``dataset.download=true``.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import List, Optional

import numpy as np
from sklearn import datasets as sk

from nnrecipes.data.errors import DataError, DataNotFound
from nnrecipes.data.raw import RawData

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(digit) for digit in range(10)]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (uint8 data only, as MNIST uses), checking its header against its size."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            blob = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}") from error
    if len(blob) < 4 or blob[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad header)")
    ndim = blob[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(blob[4:header], dtype=">i4"))
    if len(blob) != header + int(np.prod(shape)):
        raise DataError(f"{path} is truncated or corrupt: its header promises shape {shape} "
                        f"but it holds {len(blob) - header} bytes of data")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape).copy()


def find_idx(folders: List[Path], stem: str) -> Optional[Path]:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def idx_folders(data_dir: str, folder_name: str) -> List[Path]:
    """Where nnrun looks for a data set's IDX files, in order."""
    root = Path(data_dir).expanduser().resolve()
    folders = [root / folder_name / "raw", root / folder_name, root]
    if folder_name == "FashionMNIST":
        folders.append(DEBIAN_FASHION_MNIST)
    return folders


def load_idx_split(folders: List[Path], split: str, title: str) -> tuple:
    """Images shaped (N, 1, H, W) as uint8 and labels as int64 for ``split`` (train or test)."""
    stems = IDX_FILES[split]
    paths = [find_idx(folders, stem) for stem in stems]
    if None in paths:
        wanted = ", ".join(f"{stem}[.gz]" for stem in stems)
        looked = "\n".join(f"  {folder}" for folder in folders)
        raise DataNotFound(f"{title} {split} split not found. nnrun looked for {wanted} in:\n"
                        f"{looked}")
    images, labels = (read_idx(path) for path in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{paths[0]} and {paths[1]} do not match: images {images.shape}, "
                        f"labels {labels.shape}")
    return images[:, None, :, :], labels.astype(np.int64)


def _download(data_dir: str, folder_name: str, title: str) -> None:
    import torchvision.datasets as tv

    try:
        getattr(tv, folder_name)(root=str(Path(data_dir).expanduser()), download=True)
    except Exception as error:  # no network shows up as many different exception types
        raise DataError(f"{title} could not be downloaded into {data_dir}: {error}") from error


def _load_idx_dataset(cfg, folder_name: str, title: str, class_names: List[str]) -> RawData:
    folders = idx_folders(cfg.data_dir, folder_name)
    try:
        train, test = (load_idx_split(folders, split, title) for split in ("train", "test"))
    except DataNotFound as missing:
        if not cfg.download:
            raise DataNotFound(
                f"{missing}\nSupply the four IDX files (.gz or uncompressed) in one of these "
                "folders, point dataset.data_dir (or NNRECIPES_DATA) at a folder that holds them, "
                "or pass dataset.download=true on a machine with network access.") from None
        _download(cfg.data_dir, folder_name, title)
        train, test = (load_idx_split(folders, split, title) for split in ("train", "test"))
    return RawData(train[0], train[1], class_names, test=test)


def load_mnist(cfg) -> RawData:
    return _load_idx_dataset(cfg, "MNIST", "MNIST", DIGIT_CLASSES)


def load_fashion_mnist(cfg) -> RawData:
    return _load_idx_dataset(cfg, "FashionMNIST", "Fashion-MNIST", FASHION_CLASSES)


def load_digits(cfg) -> RawData:
    bunch = sk.load_digits()
    # Grey levels 0-16 fit in uint8, so digits travel like the other image sets.
    images = bunch.images.astype(np.uint8)[:, None, :, :]
    return RawData(images, bunch.target.astype(np.int64), DIGIT_CLASSES)
