"""A table file as a DataFrame, checked for what pandas would change or pass on silently.

pandas renames duplicate column names (``x1``, ``x1.1``), reads a file with the wrong delimiter as
one column holding the whole header, and passes on infinities and numbers beyond float32 that a
network cannot compute with. Each is found here, where the file is read, and named: an error
where information would be lost, a line in the log where a name is made up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

import numpy as np

from nnrecipes.data.errors import DataError

log = logging.getLogger("nnrecipes")
DELIMITERS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
# What a user may write for dataset.delimiter besides the character itself.
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
SHOWN = 3  # rows named in a message; the rest are counted


def delimiter_of(setting: Optional[str], file: Path) -> str:
    """``dataset.delimiter`` as a character; null: tab for .tsv files, else comma."""
    if setting is None:
        return "\t" if ".tsv" in file.suffixes else ","
    character = DELIMITER_NAMES.get(str(setting).lower(), str(setting))
    if len(character) != 1:
        raise DataError(f"dataset.delimiter={setting!r} is not allowed: one character, e.g. "
                        f"dataset.delimiter=';', or tab")
    return character


def _shown_delimiter(character: str) -> str:
    return DELIMITERS.get(character, repr(character))


def read_table(path: str, where: str, delimiter: Optional[str] = None,
               text_columns: Iterable[str] = (), sniff: bool = False):
    """A CSV (``.csv``, ``.tsv``, either gzipped) as a DataFrame; pandas infers the types.

    ``where`` is the key that named the file (``dataset.path``). ``text_columns`` are read as text
    whatever they hold (a model's categorical columns). With ``sniff``, a file whose header reads
    as one column holding another delimiter is read again with it (and said so); otherwise that
    is an error naming the delimiter to set.
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"{where}={path}: no such file")
    if not file.is_file():
        raise DataError(f"{where}={path} is not a file (a folder?)")
    separator = delimiter_of(delimiter, file)
    frame = _parse(file, path, where, separator, text_columns)
    other = _other_delimiter(frame, separator)
    if other is not None and sniff:
        log.info(f"{where}={path} is separated by {_shown_delimiter(other)}, not "
                 f"{_shown_delimiter(separator)}; read it so")
        separator, frame = other, _parse(file, path, where, other, text_columns)
    elif other is not None:
        raise DataError(
            f"{where}={path} reads as one column, {str(frame.columns[0])[:60]!r}, with the "
            f"delimiter {_shown_delimiter(separator)}; its header looks separated by "
            f"{_shown_delimiter(other)}: set dataset.delimiter="
            f"{'tab' if other == chr(9) else repr(other)}")
    _check_header(file, path, where, separator)
    return frame


def _parse(file: Path, path: str, where: str, separator: str, text_columns: Iterable[str]):
    import pandas as pd

    text = {column: str for column in text_columns}
    try:
        frame = pd.read_csv(file, sep=separator, compression="infer", dtype=text or None)
    except pd.errors.EmptyDataError:
        raise DataError(f"{where}={path} is empty: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{where}={path} is not a readable CSV file: {reason}") from None
    if frame.empty:
        raise DataError(f"{where}={path} has a header but no rows")
    return frame


def _other_delimiter(frame, separator: str) -> Optional[str]:
    """The delimiter a one-column table's header holds instead of ``separator``, if any."""
    if len(frame.columns) != 1:
        return None
    header = str(frame.columns[0])
    found = [other for other in DELIMITERS if other != separator and other in header]
    return max(found, key=header.count) if found else None


def _check_header(file: Path, path: str, where: str, separator: str) -> None:
    """Duplicate names are an error (pandas would rename them); empty ones are said."""
    import pandas as pd

    raw = pd.read_csv(file, sep=separator, compression="infer", header=None, nrows=1,
                      dtype=str, keep_default_na=False).iloc[0].tolist()
    seen = {}
    for position, name in enumerate(raw, start=1):
        seen.setdefault(name, []).append(position)
    twice = {name: places for name, places in seen.items() if len(places) > 1 and name != ""}
    if twice:
        listed = "; ".join(f"{name!r} (columns {', '.join(map(str, places))})"
                           for name, places in twice.items())
        raise DataError(f"{where}={path} has more than one column of the same name: {listed}. "
                        f"Give each column its own name in the header")
    unnamed = seen.get("", [])
    if unnamed:
        log.warning(f"{where}={path}: column{'s' * (len(unnamed) > 1)} "
                    f"{', '.join(map(str, unnamed))} ha{'ve' if len(unnamed) > 1 else 's'} no "
                    f"name in the header; pandas calls "
                    f"{'them' if len(unnamed) > 1 else 'it'} "
                    f"{', '.join(repr(f'Unnamed: {p - 1}') for p in unnamed)}")


def numeric(values) -> bool:
    """A column of numbers (booleans are not: they are true/false)."""
    import pandas as pd

    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask) + 1
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    return f"row{'s' * (len(rows) > 1)} {', '.join(map(str, rows[:SHOWN]))}{more}"


def _count(mask: np.ndarray, noun: str) -> str:
    count = int(mask.sum())
    return f"{count} {noun}{'s' * (count > 1)}"


def _column_problem(numbers: np.ndarray) -> Optional[str]:
    infinite = np.isinf(numbers)
    huge = ~infinite & (np.abs(np.nan_to_num(numbers)) > FLOAT32_MAX)
    found = []
    if infinite.any():
        found.append(f"{_count(infinite, 'infinite value')} ({_rows(infinite)})")
    if huge.any():
        found.append(f"{_count(huge, 'value')} beyond float32's range of ±3.4e38 "
                     f"({_rows(huge)})")
    magnitudes = np.abs(numbers[np.isfinite(numbers)])
    if not found and magnitudes.max(initial=0) > 0 and magnitudes.max() < FLOAT32_TINY:
        found.append(f"only values below float32's smallest normal number, 1.2e-38, which it "
                     f"rounds towards 0 (largest {magnitudes.max():.3g}): rescale it")
    return " and ".join(found) or None


def check_finite(frame, columns: Sequence[str], where: str, fix: str) -> None:
    """Numbers a network computes with in float32 must be finite and fit float32: name each
    column that holds others, with counts and rows, and ``fix`` (what the user can do)."""
    problems: List[str] = []
    for column in columns:
        values = frame[column]
        if not numeric(values):
            continue
        problem = _column_problem(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if problem:
            problems.append(f"column {column} holds {problem}")
    if problems:
        raise DataError(f"{where}: {'; '.join(problems)}. A network computes in float32 and "
                        f"cannot learn from or predict with them: {fix}")
