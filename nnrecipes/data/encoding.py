"""Table columns to numbers, learnt on the training split: ``TableEncoding``.

Number columns pass through (missing values filled with the training median when imputing);
true/false columns become 1/0; string columns are one-hot encoded over the categories seen in
training, so a category first seen at test or predict time is all zeros, not a crash. Whatever
changes a value (a fill, an unseen category) is said in the log. The encoding is plain data
(lists and dicts), saved in the checkpoint: predicting from new rows needs nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from nnrecipes.data.errors import DataError
from nnrecipes.data.table_file import check_finite

log = logging.getLogger("nnrecipes")
IMPUTE_CHOICES = ("none", "median")
SHOWN = 3  # values named in a log line or a message; the rest are counted


@dataclass(frozen=True)
class TableSource:
    """Where rows come from, and what a user who must fix them can do: ``training`` sources
    take dataset.* keys; a prediction's input does not."""

    where: str  # "dataset.path=homes.csv", "input=new.csv"
    training: bool = True

    def fill_hint(self) -> str:
        if self.training:
            return ("set dataset.impute=median to fill them from the training split (median "
                    "numbers, most frequent strings)")
        return ("fill them in the file, or train the model with dataset.impute=median, which "
                "fills them at prediction too")

    def finite_hint(self) -> str:
        if self.training:
            return ("replace them in the file (or empty the cells and set dataset.impute="
                    "median), or leave the column out with dataset.features")
        return "replace them in the file"


@dataclass
class TableEncoding:
    features: List[str]  # the columns the model reads, in the training file's order
    fills: Dict[str, Any]  # column -> value for missing cells (only when imputing)
    categories: Dict[str, List[str]]  # string column -> its training categories
    booleans: List[str] = field(default_factory=list)  # true/false columns, read as 1/0
    delimiter: Optional[str] = None  # the training file's, for prediction inputs

    def names(self) -> List[str]:
        """The encoded columns: ``age``, ``city=Paris``, ``city=Rome``, ..."""
        return [name for column in self.features for name in
                ([f"{column}={value}" for value in self.categories[column]]
                 if column in self.categories else [column])]

    def transform(self, frame, where: str, training: bool = True) -> np.ndarray:
        """float32 rows for ``frame`` (a DataFrame holding at least the feature columns), which
        ``where`` names; ``training``: whether dataset.* keys can fix its problems."""
        source = TableSource(where, training)
        absent = [column for column in self.features if column not in frame.columns]
        if absent:
            raise DataError(f"{source.where} lacks the column{'s' * (len(absent) > 1)} "
                            f"{', '.join(absent)} that the model was trained on")
        frame = frame[self.features]
        numbers = [column for column in self.features if column not in self.categories]
        check_finite(frame, numbers, source.where, source.finite_hint())
        if self.fills:
            _say_filled(frame, self.fills, source.where)
            frame = frame.fillna(self.fills)
        check_complete(frame, source)
        parts = [self._one_hot(frame[column], source.where) if column in self.categories
                 else _numbers(frame[column], column, column in self.booleans, source.where)
                 [:, None] for column in self.features]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _one_hot(self, values, where: str) -> np.ndarray:
        import pandas as pd

        known = self.categories[values.name]
        text = values.astype(str)
        codes = pd.Index(known).get_indexer(text)  # -1: unseen
        unseen = sorted(set(text[codes < 0]))
        if unseen:
            count = int((codes < 0).sum())
            log.warning(f"{where}: column {values.name} holds {count} value{'s' * (count > 1)} "
                        f"not seen in training ({_listed(unseen)}); encoded as no known "
                        f"category")
        encoded = np.zeros((len(values), len(known)), dtype=np.float32)
        seen = codes >= 0
        encoded[np.flatnonzero(seen), codes[seen]] = 1.0
        return encoded

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: Dict[str, Any]) -> "TableEncoding":
        return cls(list(saved["features"]), dict(saved["fills"]),
                   {key: list(value) for key, value in saved["categories"].items()},
                   list(saved.get("booleans", [])), saved.get("delimiter"))


def _listed(values: List[Any]) -> str:
    shown = ", ".join(repr(value) for value in values[:SHOWN])
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def _say_filled(frame, fills: Dict[str, Any], where: str) -> None:
    counts = frame.isna().sum()
    filled = [f"{column} {int(counts[column])} with {fills[column]!r}" for column in fills
              if counts.get(column, 0)]
    if filled:
        log.info(f"{where}: missing values filled from the training split: {'; '.join(filled)}")


def string_column(values) -> bool:
    """Whether a column holds text (one-hot encoded) rather than numbers or true/false."""
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def check_complete(frame, source: TableSource) -> None:
    """Missing cells are an error that names each column and its count."""
    counts = frame.isna().sum()
    counts = counts[counts > 0]
    if len(counts):
        listed = ", ".join(f"{column} ({count})" for column, count in counts.items())
        raise DataError(f"{source.where} has missing values in {listed}; {source.fill_hint()}")


def fit_encoding(frame, impute: str, max_categories: int, where: str,
                 delimiter: Optional[str] = None) -> TableEncoding:
    """Learn the encoding of ``frame``'s columns from ``frame`` (the training split)."""
    import pandas as pd

    categories, fills = {}, {}
    booleans = [column for column in frame.columns if pd.api.types.is_bool_dtype(frame[column])]
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
            median = values.astype(float).median()
            fills[column] = 0.0 if np.isnan(median) else float(median)
    return TableEncoding(list(frame.columns), fills, categories, booleans, delimiter)


def _holds_booleans(values) -> bool:
    import pandas as pd

    return pd.api.types.is_bool_dtype(values) or (
        values.dtype == object and any(isinstance(v, (bool, np.bool_)) for v in values))


def _numbers(values, column: str, boolean: bool, where: str) -> np.ndarray:
    """A number or true/false column as float64, as it was in training, or a DataError."""
    if not boolean and _holds_booleans(values):
        raise DataError(f"{where}: column {column} holds true/false (e.g. "
                        f"{values.astype(str).iloc[0]}) where the training data holds numbers")
    try:
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        shown = next((v for v in values if not _is_number(v)), values.iloc[0])
        raise DataError(f"{where}: column {column} holds text (e.g. {str(shown)!r}) where the "
                        f"training data holds {'true/false' if boolean else 'numbers'}") from None
    if boolean and not np.isin(numbers[~np.isnan(numbers)], (0.0, 1.0)).all():
        raise DataError(f"{where}: column {column} holds numbers other than 0 and 1 where the "
                        f"training data holds true/false")
    return numbers


def _is_number(value: Any) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
