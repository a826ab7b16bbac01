"""A user's own images: ``nnrun dataset=image_folder dataset.path=photos model=cnn``.

``dataset.path`` holds one sub-folder per class (torchvision's ImageFolder layout). Every image
is decoded once with Pillow, converted to grey or RGB, resized, and held as one uint8 tensor
shaped (N, C, H, W), like Fashion-MNIST, so the CNN and every speed path work unchanged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from omegaconf import MISSING

from nnrecipes.bounds import setting
from nnrecipes.components import declare
from nnrecipes.config import DatasetConfig
from nnrecipes.console import work_progress
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData
from nnrecipes.data.stand_ins import write_image_folder

log = logging.getLogger("nnrecipes")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")
SHOWN = 5  # bad files named in an error; the rest are counted


@dataclass
class ImageFolderConfig(DatasetConfig):
    # One sub-folder per class. Relative paths start where nnrun was started.
    path: str = MISSING
    # The same layout for a separate test set; null: a seeded split of dataset.path.
    test_path: Optional[str] = None
    # Resize every image to image_size x image_size; null: keep their size (all must agree).
    image_size: Optional[int] = setting(None, ge=2)
    # 1: grey, 3: RGB (images are converted).
    channels: int = setting(1, choices=("1", "3"))
    # Leave out files that are not readable images (counted in the log) instead of stopping.
    skip_bad: bool = False


def class_files(root: Path, key: str) -> Tuple[List[str], List[Tuple[Path, int]]]:
    """The class names (sub-folder names, sorted) and every file with its class index."""
    if not root.exists():
        raise DataError(f"{key}={root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{key}={root} is not a folder: it must hold one sub-folder per class")
    classes = sorted(entry.name for entry in root.iterdir()
                     if entry.is_dir() and not entry.name.startswith("."))
    if len(classes) < 2:
        found = f"only {classes[0]}" if classes else "none"
        raise DataError(f"{key}={root} must hold one sub-folder per class, at least two; it "
                        f"has {found}")
    files = [(path, label) for label, name in enumerate(classes)
             for path in sorted((root / name).rglob("*"))
             if path.is_file() and not path.name.startswith(".")]
    empty = sorted(set(classes) - {classes[label] for _, label in files})
    if empty:
        raise DataError(f"{key}={root}: class folder{'s' * (len(empty) > 1)} "
                        f"{', '.join(empty)} hold{'s' * (len(empty) == 1)} no files")
    return classes, files


def _decode_one(path: Path, channels: int, size: Optional[Tuple[int, int]]):
    from PIL import Image

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return f"not an image file ({path.suffix or 'no suffix'})"
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None and image.size != size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except Exception as error:  # Pillow raises many types for broken files
        return f"unreadable ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def decode_images(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                  skip_bad: bool, where: str) -> Tuple[np.ndarray, List[int]]:
    """uint8 images (N, C, H, W) and the indices of ``paths`` they came from. ``size`` is
    (width, height), or None to keep each image's own (then all must agree)."""
    started, decoded, kept, bad = time.perf_counter(), [], [], []
    with work_progress(f"decoding {where}", len(paths)) as advance:
        for index, path in enumerate(paths):
            pixels = _decode_one(path, channels, size)
            if isinstance(pixels, str):
                bad.append(f"{path}: {pixels}")
            else:
                decoded.append(pixels)
                kept.append(index)
            advance()
    _report_bad(bad, skip_bad, where)
    if not decoded:
        raise DataError(f"{where} holds no readable images")
    _same_size(decoded, [paths[index] for index in kept], where)
    seconds = time.perf_counter() - started
    log.info(f"decoded {len(decoded)} images from {where} in {seconds:.1f} s "
             f"({1000 * seconds / len(paths):.2f} s per 1,000)")
    return np.stack(decoded), kept


def _report_bad(bad: List[str], skip_bad: bool, where: str) -> None:
    if not bad:
        return
    listed = "; ".join(bad[:SHOWN]) + (f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN
                                       else "")
    if not skip_bad:
        raise DataError(f"{where}: {_files_not_images(len(bad))}: {listed}. Remove them, or set "
                        f"dataset.skip_bad=true to leave them out")
    log.warning(f"{where}: left out {_files_not_images(len(bad))}: {listed}")


def _files_not_images(count: int) -> str:
    return "1 file that is not a readable image" if count == 1 else \
        f"{count} files that are not readable images"


def _same_size(images: List[np.ndarray], paths: List[Path], where: str) -> None:
    sizes = {}
    for pixels, path in zip(images, paths):
        sizes.setdefault(pixels.shape[1:], []).append(path)
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w} ({len(found)}, e.g. {found[0].name})"
                          for (h, w), found in sorted(sizes.items(), key=lambda i: -len(i[1])))
        raise DataError(f"{where} holds images of different sizes: {shown}; set "
                        f"dataset.image_size to resize them all to one")


def _load_split(root: str, key: str, cfg, classes: Optional[List[str]] = None):
    names, files = class_files(Path(root).expanduser(), key)
    if classes is not None and set(names) - set(classes):
        raise DataError(f"{key}={root} has class folders the training folder lacks: "
                        f"{', '.join(sorted(set(names) - set(classes)))}")
    labels = [(classes or names).index(names[label]) for _, label in files]
    size = None if cfg.image_size is None else (cfg.image_size, cfg.image_size)
    images, kept = decode_images([path for path, _ in files], int(cfg.channels), size,
                                 cfg.skip_bad, f"{key}={root}")
    return names, images, np.array(labels, dtype=np.int64)[kept]


def load_image_folder(cfg) -> RawData:
    names, images, labels = _load_split(cfg.path, "dataset.path", cfg)
    test = None
    if cfg.test_path:
        _, test_images, test_labels = _load_split(cfg.test_path, "dataset.test_path", cfg, names)
        if test_images.shape[1:] != images.shape[1:]:
            raise DataError(f"dataset.test_path={cfg.test_path} holds images of "
                            f"{'x'.join(map(str, test_images.shape[2:]))}, dataset.path "
                            f"{'x'.join(map(str, images.shape[2:]))}; set dataset.image_size")
        test = (test_images, test_labels)
    return RawData(images, labels, names, test=test)


declare("dataset", "image_folder", ImageFolderConfig, load_image_folder, task="multiclass",
        image=True, stand_in=write_image_folder)
