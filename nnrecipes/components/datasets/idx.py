"""Image data sets: MNIST and Fashion-MNIST from IDX files, scikit-learn's 8x8 digits.

A new data set in MNIST's IDX layout is one ``idx_dataset(...)`` line here and a YAML.

IDX files are read directly, gzip-compressed or not, so a folder holding only the ``.gz`` files
works without network and nothing is ever written next to the data. torchvision is used only to
download, when ``dataset.download=true``.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import List, Optional

import numpy as np

from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.task import Task
from nnrecipes.data.errors import DataError, DataNotFound
from nnrecipes.data.raw import RawData
from nnrecipes.data.stand_ins import write_idx_dataset

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(digit) for digit in range(10)]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")
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
        raise DataError(f"cannot read {path}: {_reason(error)}{_sibling_hint(path)}") from error
    if len(blob) < 4 or blob[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad header)"
                        f"{_sibling_hint(path)}")
    header = 4 + 4 * blob[3]
    if blob[3] == 0 or len(blob) < header:
        raise DataError(f"{path} has a cut or corrupt header: it declares {blob[3]} dimensions"
                        f"{_sibling_hint(path)}")
    shape = tuple(int(d) for d in np.frombuffer(blob[4:header], dtype=">u4"))
    if len(blob) != header + math.prod(shape):  # Python integers: no overflow
        raise DataError(f"{path} is truncated or corrupt: its header promises shape {shape} "
                        f"but it holds {len(blob) - header} bytes of data{_sibling_hint(path)}")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape).copy()


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _sibling_hint(path: Path) -> str:
    """A plain file is read before its .gz twin: say so when the plain one is the broken one."""
    twin = path.with_name(path.name + ".gz")
    return f" ({twin.name} beside it is not read while this file exists)" if twin.is_file() else ""


def find_idx(folders: List[Path], stem: str) -> Optional[Path]:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
            if (folder / name).exists():
                raise DataError(f"{folder / name} is not a file (a folder?): nnrun expects the "
                                f"IDX file {name} there")
    return None


def idx_folders(data_dir: str, folder_name: str) -> List[Path]:
    """Where nnrun looks for a data set's IDX files, in order."""
    root = Path(data_dir).expanduser().resolve()
    folders = [root / folder_name / "raw", root / folder_name, root]
    if folder_name == "FashionMNIST":
        folders.append(DEBIAN_FASHION_MNIST)
    return folders


def load_idx_split(folders: List[Path], split: str, title: str,
                   classes: Optional[int] = None) -> tuple:
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
    if classes is not None and len(labels) and labels.max() >= classes:
        raise DataError(f"{paths[1]} holds label {labels.max()}, but {title} has {classes} "
                        f"classes (labels 0 to {classes - 1})")
    return images[:, None, :, :], labels.astype(np.int64)


def _same_image_size(folders: List[Path], train: tuple, test: tuple) -> None:
    if train[0].shape[1:] == test[0].shape[1:] and len(train[0]) and len(test[0]):
        return
    files = [find_idx(folders, IDX_FILES[split][0]) for split in ("train", "test")]
    size = lambda split: "x".join(map(str, split[0].shape[2:]))  # noqa: E731
    raise DataError(f"{files[0]} holds {len(train[0])} images of {size(train)} pixels, "
                    f"{files[1]} {len(test[0])} of {size(test)}: both splits need images, "
                    f"all of one size")


def _download(data_dir: str, folder_name: str, title: str) -> None:
    """torchvision's own download (its mirrors, its checksums) into data_dir/<folder_name>/raw."""
    import torchvision.datasets as tv

    source = getattr(tv, folder_name)
    try:
        source(root=str(Path(data_dir).expanduser()), download=True)
    except Exception as error:  # no network shows up as many different exception types
        tried = ", ".join(source.mirrors)
        reason = " ".join(line.strip() for line in str(error).splitlines()[:3] if line.strip())
        raise DataError(f"{title} could not be downloaded into {data_dir}/{folder_name}/raw from "
                        f"{tried} ({type(error).__name__}: {reason[:300]}). Copy the four IDX "
                        f"files there by hand, or point dataset.data_dir at a folder holding "
                        f"them") from error


def _load_idx_dataset(cfg, folder_name: str, title: str, class_names: List[str]) -> RawData:
    folders = idx_folders(cfg.data_dir, folder_name)
    classes = len(class_names)
    try:
        train, test = (load_idx_split(folders, split, title, classes) for split in SPLITS)
    except DataNotFound as missing:
        if not cfg.download:
            raise DataNotFound(
                f"{missing}\nSupply the four IDX files (.gz or uncompressed) in one of these "
                "folders, point dataset.data_dir (or NNRECIPES_DATA) at a folder that holds them, "
                "or pass dataset.download=true on a machine with network access.") from None
        _download(cfg.data_dir, folder_name, title)
        train, test = (load_idx_split(folders, split, title, classes) for split in SPLITS)
    _same_image_size(folders, train, test)
    return RawData(train[0], train[1], class_names, test=test)


def idx_dataset(name: str, folder_name: str, title: str, class_names: List[str]):
    """Declare a data set of IDX files laid out as MNIST's (``folder_name`` is also torchvision's
    class for downloading it); returns its loader."""
    def load(cfg) -> RawData:
        return _load_idx_dataset(cfg, folder_name, title, class_names)

    declare("dataset", name, DatasetConfig, load, task=Task.multiclass, image=True,
            stand_in=lambda root: write_idx_dataset(root / folder_name / "raw", compress=True))
    return load


load_mnist = idx_dataset("mnist", "MNIST", "MNIST", DIGIT_CLASSES)
load_fashion_mnist = idx_dataset("fashion_mnist", "FashionMNIST", "Fashion-MNIST",
                                 FASHION_CLASSES)
