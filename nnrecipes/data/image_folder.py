"""A user's own images: ``nnrun dataset=image_folder dataset.path=photos model=cnn``.

``dataset.path`` holds one sub-folder per class (torchvision's ImageFolder layout). Every image
is decoded once with Pillow, converted to grey or RGB, resized, and held as one uint8 tensor
shaped (N, C, H, W), like Fashion-MNIST, so the CNN and every speed path work unchanged.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from omegaconf import MISSING

from nnrecipes.bounds import setting
from nnrecipes.components import declare
from nnrecipes.config import DatasetConfig
from nnrecipes.console import work_progress
from nnrecipes.data.decode import NOTES, decode_one
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData
from nnrecipes.data.stand_ins import write_image_folder

log = logging.getLogger("nnrecipes")
SHOWN = 5  # bad files named in an error; the rest are counted
SKIP_BAD_HINT = "Remove them, or set dataset.skip_bad=true to leave them out"


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
    # Leave out files that are not usable images (counted in the log) instead of stopping.
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


def decode_images(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                  skip_bad: bool, where: str,
                  fix: str = SKIP_BAD_HINT) -> Tuple[np.ndarray, List[int]]:
    """uint8 images (N, C, H, W) and the indices of ``paths`` they came from. ``size`` is
    (width, height), or None to keep each image's own (then all must agree). What was changed
    on the way is said in the log, a line per kind; files that cannot be read stop the run
    (the message ends with ``fix``) unless ``skip_bad``."""
    started, decoded, kept, bad = time.perf_counter(), [], [], []
    notes: Counter = Counter()
    warned: List[str] = []
    with work_progress(f"decoding {where}", len(paths)) as advance:
        for index, path in enumerate(paths):
            result = decode_one(path, channels, size)
            if isinstance(result, str):
                bad.append(f"{path}: {result}")
            else:
                decoded.append(result.pixels)
                kept.append(index)
                notes.update(note for note in result.notes if note in NOTES)
                warned += [f"{path}: {note[len('warning: '):]}" for note in result.notes
                           if note.startswith("warning: ")]
            advance()
    _report_bad(bad, skip_bad, where, fix)
    if not decoded:
        raise DataError(f"{where} holds no readable images")
    _same_size(decoded, [paths[index] for index in kept], where)
    _report_changes(notes, warned, where, size)
    seconds = time.perf_counter() - started
    log.info(f"decoded {len(decoded)} images from {where} in {seconds:.1f} s "
             f"({1000 * seconds / len(paths):.2f} s per 1,000)")
    return np.stack(decoded), kept


def _report_changes(notes: Counter, warned: List[str], where: str,
                    size: Optional[Tuple[int, int]]) -> None:
    """One line per kind of change the pixels went through; Pillow's warnings by file."""
    for note, text in NOTES.items():
        if notes[note]:
            to = f" to {size[0]}x{size[1]}" if note == "resized" and size else ""
            log.info(f"{where}: {notes[note]} image{'s' * (notes[note] > 1)} {text}{to}")
    for line in warned[:SHOWN]:
        log.warning(f"{where}: {line}")
    if len(warned) > SHOWN:
        log.warning(f"{where}: and {len(warned) - SHOWN} more warnings about other files")


def _report_bad(bad: List[str], skip_bad: bool, where: str, fix: str) -> None:
    if not bad:
        return
    listed = "; ".join(bad[:SHOWN]) + (f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN
                                       else "")
    if not skip_bad:
        raise DataError(f"{where}: {_files_not_images(len(bad))}: {listed}. {fix}")
    log.warning(f"{where}: left out {_files_not_images(len(bad))}: {listed}")


def _files_not_images(count: int) -> str:
    """Unreadable files, and images 8 bits cannot carry (decode.py says which and why)."""
    return "1 file that is not a usable image" if count == 1 else \
        f"{count} files that are not usable images"


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
