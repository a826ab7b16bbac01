"""How a folder of pictures is laid out (``dataset.layout``): one sub-folder per class, or
``train/`` ``val/`` ``test/`` parents each holding such sub-folders (the most common layout of
published image sets), whose folders are then the splits; or a CSV of ``file,label``
(data/label_table.py). ``auto`` tells them apart where the
folder is unambiguous; the decision is a log line. A folder holding nothing but one folder (as
an archive unpacks: ``photos/PetImages/Cat``, ``photos/PetImages/Dog``) is read one level
deeper, said in the log too."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Dict, List

from nnrecipes.data.errors import DataError

log = logging.getLogger("nnrecipes")
# Folder names read as splits (any case), and the split each one is.
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}


# Folders an archive or a desktop leaves beside the pictures: never a class or a split.
_LEFT_BY_TOOLS = ("__MACOSX",)


def sub_folders(root: Path) -> List[Path]:
    """The folders in ``root`` that may hold pictures: not hidden, not a tool's."""
    return [entry for entry in root.iterdir() if entry.is_dir()
            and not entry.name.startswith(".") and entry.name not in _LEFT_BY_TOOLS]


def unwrapped(root: Path, key: str) -> Path:
    """``root``, or the one folder it holds where it holds nothing else that is visible and
    that folder holds folders (an archive's top folder), one level deeper at most."""
    if not root.is_dir():
        return root  # the class-folder reader says what is wrong with it
    folders = sub_folders(root)
    files = [entry for entry in root.iterdir() if not entry.is_dir()
             and not entry.name.startswith(".")]
    if len(folders) != 1 or files or folders[0].name.lower() in SPLIT_NAMES \
            or not sub_folders(folders[0]):
        return root
    log.info(f"{key}={root} holds one folder, {folders[0].name}/, and nothing else: the "
             f"pictures are read from it")
    return folders[0]


class Layout(str, Enum):
    auto = "auto"  # splits where every sub-folder is named as one and holds folders; else classes
    classes = "classes"  # one sub-folder per class
    splits = "splits"  # train/ (val/ or valid/, test/) each holding one sub-folder per class
    csv = "csv"  # a CSV of file,label (data/label_table.py)


def is_label_table(path: Path) -> bool:
    """Whether ``path`` is a CSV that may list pictures: a file named .csv."""
    return path.is_file() and path.suffix.lower() == ".csv"


def reads_label_table(root: Path, layout: Layout, key: str) -> bool:
    """Whether ``root`` is a CSV listing the pictures (auto: a file named .csv)."""
    layout = Layout(layout)
    table = is_label_table(root)
    if layout is Layout.csv and not table:
        raise DataError(f"dataset.layout=csv: {key}={root} must be a CSV file of pictures and "
                        f"their labels (file,label)")
    return layout is Layout.csv or (layout is Layout.auto and table)


def split_folders(root: Path, layout: Layout, key: str) -> Dict[str, Path]:
    """{"train": folder, "val": ..., "test": ...} where ``root`` is laid out in splits, {} where
    it holds one sub-folder per class."""
    layout = Layout(layout)
    if layout in (Layout.classes, Layout.csv) or not root.is_dir():
        return {}  # the class-folder reader says what is wrong with a missing root
    folders = sub_folders(root)
    named = {entry: SPLIT_NAMES.get(entry.name.lower()) for entry in folders}
    order = ("train", "val", "test")
    found = dict(sorted(((split, entry) for entry, split in named.items() if split),
                        key=lambda item: order.index(item[0])))
    if folders and all(named.values()) and len(folders) > len(found):  # val/ and valid/
        raise DataError(f"{key}={root} holds two folders for one split: "
                        f"{', '.join(sorted(entry.name for entry in folders))}")
    holds_classes = all(any(child.is_dir() for child in entry.iterdir())
                        for entry in found.values())
    looks_split = "train" in found and len(found) == len(folders) and holds_classes
    if layout is Layout.auto and not looks_split:
        return {}
    if layout is Layout.splits and not looks_split:
        raise DataError(f"dataset.layout=splits: {key}={root} must hold a train/ folder (and "
                        f"val/ or valid/, test/), each with one sub-folder per class, and "
                        f"nothing else; it holds {', '.join(sorted(e.name for e in folders))}")
    said = ", ".join(f"{entry.name}/" for entry in found.values())
    val = "its own folder" if "val" in found else "a seeded draw from the training folder"
    log.info(f"{key}={root}: laid out in splits ({said}), each with a sub-folder per class; "
             f"validation from {val}. dataset.layout=classes reads them as classes")
    return found
