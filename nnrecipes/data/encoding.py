"""Table columns to numbers, learnt on the training split: ``TableEncoding``.

Which columns are kept, and which are dates, is planned first (table_columns.py). Then number
columns pass through (missing values filled with the training median, and an "is missing" column
added where training rows lacked them); true/false columns become 1/0; date columns become their
numeric parts; string columns are one-hot encoded over their most frequent categories in
training, the rest (and, at predict time, categories never seen) in one "other" column where
there were more than ``max_categories``. Whatever changes a value is said in the log. The
encoding is plain data (lists and dicts), saved in the checkpoint: predicting from new rows needs
nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from nnrecipes.data.errors import DataError
from nnrecipes.data.table_columns import (MOSTLY_MISSING, ColumnPlan, date_columns, plan_columns,
                                          string_column)
from nnrecipes.data.table_file import check_finite

log = logging.getLogger("nnrecipes")
# median: fill from the training split, with an "is missing" column; error: refuse.
IMPUTE_CHOICES = ("median", "error")
IMPUTE_ALIASES = (("none", "error"),)
OTHER = "(other)"  # the one-hot column of the categories beyond max_categories
SHOWN = 3  # values named in a log line or a message; the rest are counted


@dataclass(frozen=True)
class TableSource:
    """Where rows come from, and what a user who must fix them can do: ``training`` sources
    take dataset.* keys; a prediction's input does not."""

    where: str  # "dataset.path=homes.csv", "input=new.csv"
    training: bool = True

    def fill_hint(self) -> str:
        if self.training:
            return ("fill them in the file, or leave dataset.impute at median (the default) to "
                    "fill them from the training split")
        return ("fill them in the file, or train the model with dataset.impute=median, which "
                "fills them at prediction too")

    def finite_hint(self) -> str:
        if self.training:
            return ("replace them in the file (or empty the cells: missing values are filled), "
                    "or leave the column out with dataset.exclude")
        return "replace them in the file"


@dataclass
class TableEncoding:
    features: List[str]  # the columns the model reads, in the training file's order
    fills: Dict[str, Any]  # column -> value for missing cells (only when imputing)
    categories: Dict[str, List[str]]  # string column -> its training categories kept
    booleans: List[str] = field(default_factory=list)  # true/false columns, read as 1/0
    delimiter: Optional[str] = None  # the training file's, for prediction inputs
    dates: Dict[str, List[str]] = field(default_factory=dict)  # date column -> its parts
    # Columns (date parts by their part's name) given an "is missing" column.
    indicators: List[str] = field(default_factory=list)
    others: List[str] = field(default_factory=list)  # string columns with an "other" column
    # What was done to which column, and why (table_columns.Decision as dicts).
    decisions: List[Dict[str, str]] = field(default_factory=list)

    def names(self) -> List[str]:
        """The encoded columns: ``age``, ``city=Paris``, ``city=(other)``, ``born.year``, ...,
        ``age (missing)``."""
        return [name for name, _ in self.named()]

    def named(self) -> List[Tuple[str, str]]:
        """Each encoded column's name and what it stands for, in the words of a message."""
        named = []
        for column in self.columns():
            if column in self.categories:
                named += [(f"{column}={value}", f"column {column}'s category {value!r}")
                          for value in self.categories[column]]
                named += [(f"{column}={OTHER}", f"the bucket of column {column}'s rare "
                                                f"categories")] if column in self.others else []
            else:
                named.append((column, f"column {column}"))
        return named + [(f"{column} (missing)", f"the missing-value marker of column {column}")
                        for column in self.indicators]

    def check_names(self, where: str) -> None:
        """Generated names (categories, the rare bucket, missing-value markers) that another
        column already has: refused naming both, since exports and reports name columns by
        them."""
        first: Dict[str, str] = {}
        for name, meaning in self.named():
            if name in first:
                raise DataError(f"{where}: two encoded columns would both be named {name!r}: "
                                f"{first[name]} and {meaning}; rename the column (or the "
                                f"category) in the file")
            first[name] = meaning

    def columns(self) -> List[str]:
        """The feature columns with each date column replaced by its parts."""
        return [name for column in self.features for name in
                ([f"{column}.{part}" for part in self.dates[column]] if column in self.dates
                 else [column])]

    def transform(self, frame, where: str, training: bool = True) -> np.ndarray:
        """float32 rows for ``frame`` (a DataFrame holding at least the feature columns), which
        ``where`` names; ``training``: whether dataset.* keys can fix its problems."""
        source = TableSource(where, training)
        absent = [column for column in self.features if column not in frame.columns]
        if absent:
            raise DataError(f"{source.where} lacks the column{'s' * (len(absent) > 1)} "
                            f"{', '.join(absent)} that the model was trained on")
        frame = self._with_date_parts(frame[self.features])
        numbers = [column for column in frame.columns if column not in self.categories]
        check_finite(frame, numbers, source.where, source.finite_hint())
        missing = [frame[column].isna().to_numpy(np.float32)[:, None]
                   for column in self.indicators]
        if self.fills:
            _say_filled(frame, self.fills, source.where)
            frame = frame.fillna(self.fills)
        check_complete(frame, source)
        parts = [self._one_hot(frame[column], source.where) if column in self.categories
                 else _numbers(frame[column], column, column in self.booleans, source.where)
                 [:, None] for column in frame.columns]
        return np.concatenate(parts + missing, axis=1).astype(np.float32)

    def _with_date_parts(self, frame):
        if not self.dates:
            return frame
        import pandas as pd


        return pd.DataFrame({name: values for column in self.features for name, values in
                             (date_columns(frame[column], self.dates[column]).items()
                              if column in self.dates else [(column, frame[column])])},
                            index=frame.index)

    def _one_hot(self, values, where: str) -> np.ndarray:
        import pandas as pd

        known = self.categories[values.name]
        other = values.name in self.others
        text = values.astype(str)
        codes = pd.Index(known).get_indexer(text)  # -1: unseen, or gathered into "other"
        unseen = sorted(set(text[codes < 0]))
        if unseen and not other:
            count = int((codes < 0).sum())
            log.warning(f"{where}: column {values.name} holds {count} value{'s' * (count > 1)} "
                        f"not seen in training ({_listed(unseen)}); encoded as no known "
                        f"category")
        encoded = np.zeros((len(values), len(known) + other), dtype=np.float32)
        seen = codes >= 0
        encoded[np.flatnonzero(seen), codes[seen]] = 1.0
        if other:
            encoded[~seen, -1] = 1.0
        return encoded

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: Dict[str, Any]) -> "TableEncoding":
        return cls(list(saved["features"]), dict(saved["fills"]),
                   {key: list(value) for key, value in saved["categories"].items()},
                   list(saved.get("booleans", [])), saved.get("delimiter"),
                   {key: list(value) for key, value in saved.get("dates", {}).items()},
                   list(saved.get("indicators", [])), list(saved.get("others", [])),
                   list(saved.get("decisions", [])))


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _listed(values: List[Any]) -> str:
    shown = ", ".join(repr(value) for value in values[:SHOWN])
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def _say_filled(frame, fills: Dict[str, Any], where: str) -> None:
    counts = frame.isna().sum()
    filled = [f"{column} {int(counts[column])} with {_shown(fills[column])}" for column in fills
              if counts.get(column, 0)]
    if filled:
        log.info(f"{where}: missing values filled from the training split: {'; '.join(filled)}")


def check_complete(frame, source: TableSource) -> None:
    """Missing cells are an error that names each column and its count."""
    counts = frame.isna().sum()
    counts = counts[counts > 0]
    if len(counts):
        listed = ", ".join(f"{column} ({count})" for column, count in counts.items())
        raise DataError(f"{source.where} has missing values in {listed}; {source.fill_hint()}")


def fit_encoding(frame, impute: str, max_categories: int, where: str,
                 delimiter: Optional[str] = None, drop_ids: bool = True,
                 parse_dates: bool = True, excluded=(),
                 group: Optional[str] = None) -> TableEncoding:
    """Learn the encoding of ``frame``'s columns from ``frame`` (the training split);
    ``excluded`` are the columns dataset.exclude left out, for the record; ``group`` the
    column of row groups, which splits read and the model does not."""
    import pandas as pd


    plan = ColumnPlan(kept=[])
    for column in excluded:
        plan.decided(column, "left out", "dataset.exclude")
    if group is not None:
        frame = frame.drop(columns=[group])
        plan.decided(group, "left out", "dataset.group: it keeps each group's rows in one split")
    planned = plan_columns(frame, drop_ids, parse_dates)
    plan.decisions += planned.decisions
    if not planned.kept:
        raise DataError(f"{where}: no column is left to learn from: "
                        f"{'; '.join(d.line() for d in planned.decisions)}")
    _check_date_parts(planned.dates, list(frame.columns), where)
    encoding = TableEncoding(planned.kept, {}, {}, delimiter=delimiter, dates=planned.dates)
    expanded = encoding._with_date_parts(frame[planned.kept])
    encoding.booleans = [column for column in expanded.columns
                         if pd.api.types.is_bool_dtype(expanded[column])]
    for column in expanded.columns:
        if string_column(expanded[column]):
            _fit_categories(encoding, plan, expanded[column], max_categories)
    if impute != "error":
        _fit_fills(encoding, plan, expanded)
    encoding.decisions = plan.records()
    encoding.check_names(where)
    return encoding


def _check_date_parts(dates: Dict[str, List[str]], columns: List[str], where: str) -> None:
    """A date column's parts (``born.year``) must not take the name of a column of the table."""
    for column, parts in dates.items():
        taken = [f"{column}.{part}" for part in parts if f"{column}.{part}" in columns]
        if taken:
            raise DataError(f"{where}: the date column {column} becomes its parts "
                            f"{', '.join(f'{column}.{part}' for part in parts)}, but the table "
                            f"has a column {taken[0]} too; rename that column, or keep {column} "
                            f"whole with dataset.parse_dates=false")


def _fit_categories(encoding: TableEncoding, plan, values, max_categories: int) -> None:
    seen = values.dropna().astype(str)
    counts = seen.value_counts()
    if len(counts) > max_categories:
        # The most frequent first; ties in the order of their names, so a refit agrees.
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [name for name, _ in ordered[:max_categories]]
        gathered = int(sum(count for _, count in ordered[max_categories:]))
        encoding.others.append(values.name)
        plan.decided(values.name, "bucketed",
                     f"{len(counts)} categories: the {max_categories} most frequent kept "
                     f"(dataset.max_categories), {len(counts) - max_categories} others "
                     f"({gathered} rows) and any unseen later in one column {OTHER!r}")
        encoding.categories[values.name] = sorted(kept)
    else:
        encoding.categories[values.name] = sorted(counts.index)


def _fit_fills(encoding: TableEncoding, plan, frame) -> None:
    """A fill for every column (prediction rows may lack any), an "is missing" column for each
    that lacked values in training, and a flag for those missing in most rows."""

    for column in frame.columns:
        values = frame[column]
        if string_column(values):
            encoding.fills[column] = values.dropna().astype(str).mode().iloc[0]
        else:
            median = values.astype(float).median()
            encoding.fills[column] = 0.0 if np.isnan(median) else float(median)
        missing = int(values.isna().sum())
        if missing:
            encoding.indicators.append(column)
            share = missing / len(values)
            plan.decided(column, "filled", f"{missing} of {len(values)} training rows missing, "
                                           f"filled with {_shown(encoding.fills[column])} and "
                                           f"marked in a column '{column} (missing)'")
            if share > MOSTLY_MISSING:
                plan.decided(column, "flagged", f"missing in {share:.0%} of training rows: "
                                                f"little to learn from but its missingness")


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
