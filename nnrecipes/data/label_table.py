"""Pictures listed in a CSV of ``file,label`` (Kaggle's usual layout; paths relative to the
CSV's folder): each picture's class, or with ``dataset.label_separator`` any number of classes
("cat dog", "beach;sunset"), the labels then multi-hot (Task.multilabel).

Which columns are the file and the label is found by name (``file``, ``image``, ``path``,
``id``...; ``label``, ``class``, ``tags``...), else the first two; the log says which. A file
that is not there, a label that is empty and a separator that no label holds are errors naming
the rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from nnrecipes.data.decode import IMAGE_SUFFIXES
from nnrecipes.data.errors import DataError

log = logging.getLogger("nnrecipes")
FILE_COLUMNS = ("file", "filename", "file_name", "path", "filepath", "image", "image_path",
                "image_id", "img", "id")
LABEL_COLUMNS = ("label", "labels", "class", "classes", "target", "category", "categories",
                 "tags", "breed")
SHOWN = 3  # rows named in an error; the rest are counted
# dataset.label_separator by name: a shell and Hydra's grammar each want ; | and space quoted.
SEPARATOR_NAMES = {"space": " ", "semicolon": ";", "comma": ",", "pipe": "|", "tab": "\t"}


def separator_of(setting: Optional[str]) -> Optional[str]:
    """The character dataset.label_separator names (itself, or by name), or None."""
    return SEPARATOR_NAMES.get(setting, setting) if setting else None


@dataclass
class LabelledFiles:
    paths: List[Path]
    labels: np.ndarray  # int64 class indices, or float32 multi-hot rows (multilabel)
    class_names: List[str]
    multilabel: bool


def _column(columns: List[str], names, position: int, taken: Optional[str] = None) -> str:
    by_name = [column for column in columns if column.strip().lower() in names
               and column != taken]
    if by_name:
        return by_name[0]
    free = [column for column in columns if column != taken]
    return free[min(position, len(free) - 1)]


def read_label_table(path: Path, key: str, separator: Optional[str],
                     class_names: Optional[List[str]] = None) -> LabelledFiles:
    """The files ``path`` lists and their labels; ``class_names``: the training table's, which
    a test table's labels must be among."""
    import pandas as pd

    separator = separator_of(separator)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, ValueError) as error:
        raise DataError(f"{key}={path} cannot be read as a CSV: {error}") from None
    if len(table.columns) < 2 or table.empty:
        raise DataError(f"{key}={path} must hold a header and rows of a file and its label "
                        f"(file,label); it has {len(table.columns)} column(s) and "
                        f"{len(table)} row(s)")
    file_column = _column(list(table.columns), FILE_COLUMNS, 0)
    label_column = _column(list(table.columns), LABEL_COLUMNS, 0, taken=file_column)
    rows = table[[file_column, label_column]].apply(lambda column: column.str.strip())
    texts = list(rows[label_column])
    if separator:
        _check_separator_occurs(texts, separator, key, path)
    parts = [[part.strip() for part in (text.split(separator) if separator else [text])
              if part.strip()] for text in texts]
    _check_labels_present(parts, key, path)
    paths = _existing_files(list(rows[file_column]), path.parent, key, path)
    names = class_names or sorted({part for row in parts for part in row})
    _check_known(parts, names, key, path)
    log.info(f"{key}={path}: {len(paths)} pictures, the file in column {file_column}, the "
             f"label{'s' if separator else ''} in column {label_column}"
             + (f" (separated by {separator!r}: multi-label, {len(names)} classes)"
                if separator else f" ({len(names)} classes)"))
    return LabelledFiles(paths, _encoded(parts, names, bool(separator)), names, bool(separator))


def _encoded(parts: List[List[str]], names: List[str], multilabel: bool) -> np.ndarray:
    index = {name: position for position, name in enumerate(names)}
    if not multilabel:
        return np.array([index[row[0]] for row in parts], dtype=np.int64)
    hot = np.zeros((len(parts), len(names)), dtype=np.float32)
    for row, classes in enumerate(parts):
        hot[row, [index[name] for name in classes]] = 1
    return hot


def _rows(positions, total: int) -> str:
    """CSV line numbers (the header is line 1) of the first rows, and how many more."""
    lines = ", ".join(str(position + 2) for position in positions[:SHOWN])
    more = f" and {total - SHOWN} more" if total > SHOWN else ""
    return f"line{'s' if total > 1 else ''} {lines}{more}"


def _check_labels_present(parts: List[List[str]], key: str, path: Path) -> None:
    empty = [position for position, classes in enumerate(parts) if not classes]
    if empty:
        rows = f"{len(empty)} row{'s have' if len(empty) > 1 else ' has'}"
        raise DataError(f"{key}={path}: {rows} an empty label ({_rows(empty, len(empty))}); "
                        f"give each picture its class, or leave those rows out")


def _located(folder: Path, name: str) -> Optional[Path]:
    """The file ``name`` in ``folder``; a name without a suffix may be a picture's with one
    (``0001`` for ``0001.jpg``)."""
    base = (folder / name).expanduser()
    tried = [base] if Path(name).suffix else [base, *(base.with_name(base.name + suffix)
                                                      for suffix in IMAGE_SUFFIXES)]
    return next((candidate.absolute() for candidate in tried if candidate.is_file()), None)


def _existing_files(files: List[str], folder: Path, key: str, path: Path) -> List[Path]:
    """Each listed file, read from ``folder``."""
    located = [_located(folder, name) for name in files]
    missing = [position for position, found in enumerate(located) if found is None]
    if missing:
        named = ", ".join(files[position] for position in missing[:SHOWN])
        raise DataError(f"{key}={path}: {len(missing)} of its {len(files)} files are not there "
                        f"({named}{' ...' if len(missing) > SHOWN else ''}; "
                        f"{_rows(missing, len(missing))}); paths are read from the CSV's "
                        f"folder, {folder.absolute()}")
    return located


def _check_separator_occurs(texts: List[str], separator: str, key: str, path: Path) -> None:
    if not any(separator in text for text in texts):
        raise DataError(f"dataset.label_separator={separator!r} occurs in none of the "
                        f"{len(texts)} labels of {key}={path} (the first: {texts[0]!r}); set "
                        f"the character that separates a row's classes, or leave it unset "
                        f"for one class a row")


def _check_known(parts: List[List[str]], names: List[str], key: str, path: Path) -> None:
    unknown = sorted({part for row in parts for part in row} - set(names))
    if unknown:
        raise DataError(f"{key}={path} has labels the training table lacks: "
                        f"{', '.join(unknown[:SHOWN])}{' ...' if len(unknown) > SHOWN else ''}")
