"""What to do with each column of a table, decided on the training split: ``plan_columns``.

A table as it comes holds columns a network cannot take as they are: missing values, columns that
identify rows (ids, names, free text), categories by the thousand, dates written as text. Each is
decided here from the training split alone (no leakage), by the rules below, and every decision
is a ``Decision`` (the column, what was done, why) that the log and ``summary.json`` show. The
rules' thresholds are constants, each switch a dataset.* key (see csv_table.py).
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

log = logging.getLogger("nnrecipes")
# A column whose distinct values number at least this share of its rows identifies rows.
IDENTIFYING_SHARE = 0.9
# Fewer training rows than this: every column is kept (too few to tell an id from a feature).
FEWEST_ROWS_FOR_IDS = 20
# A column missing in more than this share of the training rows is flagged.
MOSTLY_MISSING = 0.5
# A text column is dates when this share of a sample of its values parses as dates.
DATE_SHARE = 0.9
DATE_SAMPLE = 200
# The parts a date becomes; the time parts only where a training value has a time of day.
DATE_PARTS = ("year", "month", "day", "weekday")
TIME_PARTS = ("hour", "minute")
ATTRIBUTES = {"weekday": "day_of_week"}  # pandas' names where they differ (Monday is 0)
# Names that say "row id" of a numeric column whose values are all distinct whole numbers.
# (id, row_id, "Order No", rownames, Unnamed: 0; customerId, ClientID).
ID_NAME = re.compile(r"(^|[_\s.-])(id|index|idx|key|rownames|row|no|number)$|^unnamed: ?0$",
                     re.IGNORECASE)
ID_SUFFIX = re.compile(r"[a-z](Id|ID)$")


@dataclass
class Decision:
    column: str
    action: str  # "left out", "filled", "bucketed", "date parts", "flagged"
    why: str

    def line(self) -> str:
        return f"column {self.column}: {self.action} ({self.why})"


@dataclass
class ColumnPlan:
    """The columns kept, date columns and their parts, and the decisions that made them."""

    kept: List[str]
    dates: Dict[str, List[str]] = field(default_factory=dict)
    decisions: List[Decision] = field(default_factory=list)

    def decided(self, column: str, action: str, why: str) -> None:
        decision = Decision(column, action, why)
        self.decisions.append(decision)
        log.info(decision.line())

    def records(self) -> List[Dict[str, str]]:
        return [asdict(decision) for decision in self.decisions]


def string_column(values) -> bool:
    """Whether a column holds text (one-hot encoded) rather than numbers or true/false."""
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def plan_columns(frame, drop_ids: bool, parse_dates: bool) -> ColumnPlan:
    """Which of ``frame``'s columns (the training split's features) to keep, and which are
    dates; a column left out is said, with why."""

    plan = ColumnPlan(kept=[])
    rows = len(frame)
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        if present.empty:
            plan.decided(column, "left out", f"empty in all {rows} training rows")
            continue
        text = string_column(values)
        parts = date_parts(present) if text and parse_dates else None
        if parts:
            plan.dates[column] = parts
            plan.decided(column, "date parts", f"read as dates: {', '.join(parts)}")
        elif drop_ids and _identifies_rows(column, present, text):
            plan.decided(column, "left out", f"{present.nunique()} distinct values in "
                                             f"{len(present)} rows: it identifies rows; "
                                             f"dataset.drop_ids=false keeps it")
            continue
        plan.kept.append(column)
    return plan


def _identifies_rows(column: str, present, text: bool) -> bool:
    if len(present) < FEWEST_ROWS_FOR_IDS:
        return False
    distinct = present.nunique()
    if text:
        return distinct >= IDENTIFYING_SHARE * len(present)
    numbers = present.to_numpy(dtype=np.float64)
    if distinct < len(present) or not np.all(np.mod(numbers, 1) == 0):
        return False
    # Distinct whole numbers: an id when named like one, or when they number the rows densely.
    span = numbers.max() - numbers.min() + 1
    named = ID_NAME.search(str(column)) or ID_SUFFIX.search(str(column))
    return bool(named) or span <= 2 * len(present)


def date_parts(present) -> Optional[List[str]]:
    """The parts a text column of dates becomes, or None when it is not dates."""
    sample = present.astype(str).iloc[:DATE_SAMPLE]
    if not sample.str.contains(r"\d").all() or not sample.str.contains(r"[-/:]").all():
        return None
    parsed = parse_dates(sample)
    if parsed.notna().mean() < DATE_SHARE:
        return None
    timed = bool(((parsed.dt.hour != 0) | (parsed.dt.minute != 0)).any())
    return list(DATE_PARTS + (TIME_PARTS if timed else ()))


def parse_dates(values):
    """Text as datetimes (NaT where it is not one), each value read on its own."""
    import pandas as pd

    with warnings.catch_warnings():  # "could not infer format": each value is parsed alone
        warnings.simplefilter("ignore")
        return pd.to_datetime(values.astype("string"), errors="coerce", format="mixed",
                              utc=True)


def date_columns(values, parts: List[str]) -> Dict[str, Any]:
    """A date column as its numeric parts, named ``column.part`` (NaN where not a date)."""
    parsed = parse_dates(values)
    return {f"{values.name}.{part}": getattr(parsed.dt, ATTRIBUTES.get(part, part)).astype(float)
            for part in parts}
