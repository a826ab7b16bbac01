"""Table columns to numbers, learnt on the training split: ``TableEncoding``.

Number columns pass through (missing values filled with the training median when imputing);
string columns are one-hot encoded over the categories seen in training, so a category first
seen at test or predict time is all zeros, not a crash. The encoding is plain data (lists and
dicts), saved in the checkpoint: predicting from new rows needs nothing else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from nnrecipes.data.errors import DataError

IMPUTE_CHOICES = ("none", "median")


@dataclass
class TableEncoding:
    features: List[str]  # the columns the model reads, in the training file's order
    fills: Dict[str, Any]  # column -> value for missing cells (only when imputing)
    categories: Dict[str, List[str]]  # string column -> its training categories

    def names(self) -> List[str]:
        """The encoded columns: ``age``, ``city=Paris``, ``city=Rome``, ..."""
        return [name for column in self.features for name in
                ([f"{column}={value}" for value in self.categories[column]]
                 if column in self.categories else [column])]

    def transform(self, frame, where: str) -> np.ndarray:
        """float32 rows for ``frame`` (a DataFrame holding at least the feature columns)."""
        absent = [column for column in self.features if column not in frame.columns]
        if absent:
            raise DataError(f"{where} lacks the column{'s' * (len(absent) > 1)} "
                            f"{', '.join(absent)} that the model was trained on")
        frame = frame[self.features].fillna(self.fills) if self.fills else frame[self.features]
        check_complete(frame, where, imputing=bool(self.fills))
        parts = [self._one_hot(frame[column]) if column in self.categories
                 else _numbers(frame[column], column, where)[:, None] for column in self.features]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _one_hot(self, values) -> np.ndarray:
        import pandas as pd

        known = self.categories[values.name]
        codes = pd.Index(known).get_indexer(values.astype(str))  # -1: unseen
        encoded = np.zeros((len(values), len(known)), dtype=np.float32)
        seen = codes >= 0
        encoded[np.flatnonzero(seen), codes[seen]] = 1.0
        return encoded

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: Dict[str, Any]) -> "TableEncoding":
        return cls(list(saved["features"]), dict(saved["fills"]),
                   {key: list(value) for key, value in saved["categories"].items()})


def string_column(values) -> bool:
    """Whether a column holds text (one-hot encoded) rather than numbers (booleans are numbers)."""
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def check_complete(frame, where: str, imputing: bool = False) -> None:
    """Missing cells are an error that names each column and its count."""
    counts = frame.isna().sum()
    counts = counts[counts > 0]
    if len(counts):
        listed = ", ".join(f"{column} ({count})" for column, count in counts.items())
        hint = "" if imputing else ("; set dataset.impute=median to fill them from the "
                                    "training split (median numbers, most frequent strings)")
        raise DataError(f"{where} has missing values in {listed}{hint}")


def fit_encoding(frame, impute: str, max_categories: int, where: str) -> TableEncoding:
    """Learn the encoding of ``frame``'s columns from ``frame`` (the training split)."""
    categories, fills = {}, {}
    for column in frame.columns:
        values = frame[column]
        if string_column(values):
            seen = values.dropna().astype(str)
            distinct = sorted(seen.unique())
            if len(distinct) > max_categories:
                raise DataError(
                    f"{where}: column {column} holds {len(distinct)} distinct strings in the "
                    f"training split (free text?); at most dataset.max_categories="
                    f"{max_categories} are one-hot encoded. Leave it out with dataset.features, "
                    f"or raise dataset.max_categories")
            categories[column] = distinct
            if impute != "none" and len(seen):
                fills[column] = seen.mode().iloc[0]
        elif impute != "none":
            median = values.median()
            fills[column] = 0.0 if np.isnan(median) else float(median)
    return TableEncoding(list(frame.columns), fills, categories)


def _numbers(values, column: str, where: str) -> np.ndarray:
    try:
        return values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: column {column} was numbers in training and holds text here "
                        f"(e.g. {values.astype(str).iloc[0]!r})") from None


def read_table(path: str, where: str):
    """A CSV (``.csv``, ``.tsv``, either gzipped) as a DataFrame; pandas infers the types."""
    import pandas as pd

    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"{where}={path}: no such file")
    if not file.is_file():
        raise DataError(f"{where}={path} is not a file (a folder?)")
    separator = "\t" if ".tsv" in file.suffixes else ","
    try:
        frame = pd.read_csv(file, sep=separator, compression="infer")
    except pd.errors.EmptyDataError:
        raise DataError(f"{where}={path} is empty: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{where}={path} is not a readable CSV file: {reason}") from None
    if frame.empty:
        raise DataError(f"{where}={path} has a header but no rows")
    return frame
