"""A user's own images: ``nnrun dataset=image_folder dataset.path=photos model=cnn``.

``dataset.path`` holds one sub-folder per class (torchvision's ImageFolder layout). Every image
is decoded once with Pillow, converted to grey or RGB, resized, and held as one uint8 tensor
shaped (N, C, H, W), like Fashion-MNIST, so the CNN and every speed path work unchanged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from omegaconf import MISSING

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.task import Task
from nnrecipes.data.decode import Resize
from nnrecipes.data.errors import DataError
from nnrecipes.data.folder_layout import (Layout, is_label_table, reads_label_table, split_folders,
                                          sub_folders, unwrapped)
from nnrecipes.data.image_files import decode_images
from nnrecipes.data.label_table import LabelledFiles, read_label_table
from nnrecipes.data.raw import RawData
from nnrecipes.data.stand_ins import write_image_folder

log = logging.getLogger("nnrecipes")


@dataclass
class ImageFolderConfig(DatasetConfig):
    # One sub-folder per class. Relative paths start where nnrun was started.
    path: str = MISSING
    # The same layout for a separate test set; null: a seeded split of dataset.path.
    test_path: Optional[str] = None
    # Resize every image to image_size x image_size; null: keep their size (all must agree).
    image_size: Optional[int] = setting(None, ge=2)
    # How a picture of another shape becomes that square: squash (stretch), crop (the shorter
    # side to the size, then the centre; what torchvision's weights expect) or pad (letterbox).
    resize: Resize = Resize.squash
    # auto: train/ val/ test/ folders (valid/ too) of class folders are the splits where every
    # sub-folder is named so, a .csv file lists the pictures; classes: one sub-folder per class;
    # splits: insist on the former; csv: dataset.path is a CSV of file,label (paths relative to
    # it), dataset.test_path another.
    layout: Layout = Layout.auto
    # A labels CSV whose label holds several classes, separated by this character ("cat dog",
    # "beach;sunset"), or its name (space, semicolon, comma, pipe, tab): multi-label, a sigmoid
    # per class. null: one class a picture.
    label_separator: Optional[str] = None
    # 1: grey, 3: RGB (images are converted).
    channels: int = setting(1, choices=("1", "3"))
    # Leave out files that are not usable images (counted in the log) instead of stopping.
    skip_bad: bool = False
    # Keep the decoded images on disk for later runs and sweep jobs of the same files and
    # settings (docs/own-data.md says where); false: decode every time.
    cache: bool = True


def class_files(root: Path, key: str) -> Tuple[List[str], List[Tuple[Path, int]]]:
    """The class names (sub-folder names, sorted) and every file with its class index."""
    if not root.exists():
        raise DataError(f"{key}={root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{key}={root} is not a folder: it must hold one sub-folder per class")
    classes = sorted(entry.name for entry in sub_folders(root))
    if len(classes) < 2:
        found = f"only {classes[0]}" if classes else "none"
        raise DataError(f"{key}={root} must hold one sub-folder per class, at least two; it "
                        f"has {found}")
    files = [(path, label) for label, name in enumerate(classes)
             for path in _files_under(root / name)]
    empty = sorted(set(classes) - {classes[label] for _, label in files})
    if empty:
        raise DataError(f"{key}={root}: class folder{'s' * (len(empty) > 1)} "
                        f"{', '.join(empty)} hold{'s' * (len(empty) == 1)} no files")
    return classes, files


def _files_under(folder: Path) -> List[Path]:
    """Every file below ``folder`` but hidden ones, sorted. os.walk reads each folder once and
    knows files from folders without a stat per file (20,000 files: 0.24 s with rglob)."""
    found = []
    for top, _, names in os.walk(os.path.abspath(folder)):  # absolute: the cache's key
        found += [os.path.join(top, name) for name in names if not name.startswith(".")]
    # Path's order (folder by folder), from plain strings: comparing Paths is slow
    return [Path(path) for path in sorted(found, key=lambda path: path.split(os.sep))]


def _load_split(root: str, key: str, cfg, classes: Optional[List[str]] = None):
    names, files = class_files(Path(root).expanduser(), key)
    if classes is not None and set(names) - set(classes):
        raise DataError(f"{key}={root} has class folders the training folder lacks: "
                        f"{', '.join(sorted(set(names) - set(classes)))}")
    labels = [(classes or names).index(names[label]) for _, label in files]
    images, kept = _decode([path for path, _ in files], f"{key}={root}", cfg)
    return names, images, np.array(labels, dtype=np.int64)[kept]


def load_image_folder(cfg) -> RawData:
    root = unwrapped(Path(cfg.path).expanduser(), "dataset.path")
    if reads_label_table(root, cfg.layout, "dataset.path"):
        return load_label_table(root, cfg)
    if cfg.label_separator:
        raise DataError(f"dataset.label_separator={cfg.label_separator!r} separates the classes "
                        f"of a labels CSV; dataset.path={cfg.path} is a folder (one class a "
                        f"picture): leave dataset.label_separator unset")
    splits = split_folders(root, cfg.layout, "dataset.path")
    train = splits.get("train", root)
    names, images, labels = _load_split(str(train), "dataset.path", cfg)
    val = _matching(splits["val"], "dataset.path", cfg, names, images) if "val" in splits \
        else None
    return RawData(images, labels, names, test=_test_split(cfg, splits, names, images), val=val)


def _test_split(cfg, splits, names: List[str], images: np.ndarray):
    """The test images: dataset.test_path where set (it wins over a test/ folder, said in the
    log), else the layout's test/ folder, else none (a seeded draw)."""
    if cfg.test_path:
        if "test" in splits:
            log.info(f"dataset.test_path={cfg.test_path} is the test split, not "
                     f"{splits['test']}")
        source = unwrapped(Path(cfg.test_path).expanduser(), "dataset.test_path")
        return _matching(source, "dataset.test_path", cfg, names, images)
    if "test" in splits:
        return _matching(splits["test"], "dataset.path", cfg, names, images)
    return None


def load_label_table(table_path: Path, cfg) -> RawData:
    """A CSV of file,label (data/label_table.py); dataset.test_path another such CSV."""
    listed = read_label_table(table_path, "dataset.path", cfg.label_separator)
    images, labels = _decoded(listed, f"dataset.path={table_path}", cfg)
    test = None
    if cfg.test_path:
        test_path = Path(cfg.test_path).expanduser()
        if not is_label_table(test_path):
            raise DataError(f"dataset.test_path={cfg.test_path} must be a CSV of file,label "
                            f"too, as dataset.path={cfg.path} is")
        test = _decoded(read_label_table(test_path, "dataset.test_path", cfg.label_separator,
                                         listed.class_names), f"dataset.test_path={test_path}",
                        cfg)
        _same_shape(test[0], images, "dataset.test_path", test_path)
    return RawData(images, labels, listed.class_names, test=test,
                   task=Task.multilabel if listed.multilabel else None)


def _decoded(listed: LabelledFiles, where: str, cfg):
    images, kept = _decode(listed.paths, where, cfg)
    return images, listed.labels[kept]


def _decode(paths: List[Path], where: str, cfg):
    """The pictures at ``paths`` decoded as the data set's settings say; (images, kept)."""
    size = None if cfg.image_size is None else (cfg.image_size, cfg.image_size)
    return decode_images(paths, int(cfg.channels), size, cfg.skip_bad, where, cache=cfg.cache,
                         resize=cfg.resize)


def _same_shape(other: np.ndarray, images: np.ndarray, key: str, root) -> None:
    if other.shape[1:] != images.shape[1:]:
        raise DataError(f"{key}={root} holds images of {'x'.join(map(str, other.shape[2:]))}, "
                        f"the training folder {'x'.join(map(str, images.shape[2:]))}; set "
                        f"dataset.image_size")


def _matching(root, key: str, cfg, names: List[str], images: np.ndarray):
    """The images and labels of a validation or test folder, whose classes and image size
    must be the training folder's."""
    _, other, labels = _load_split(str(root), key, cfg, names)
    _same_shape(other, images, key, root)
    return other, labels


declare("dataset", "image_folder", ImageFolderConfig, load_image_folder, task=Task.multiclass,
        image=True, stand_in=write_image_folder)
