"""A user's own table: ``nnrun dataset=csv dataset.path=homes.csv dataset.target=price``.

pandas reads the file (``.csv``, ``.tsv``, gzipped or not). The target column decides the task
when ``dataset.task=auto``. The table is taken as it comes: missing values filled, columns that
identify rows left out, dates split into parts, rare categories gathered; each decision learnt on
the training split only (table_columns.py, encoding.py), after build_data has split the rows,
and said in the log and in summary.json.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import List, Optional, Tuple

import numpy as np
from omegaconf import MISSING

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.task import AUTO, TASK_CHOICES, Task
from nnrecipes.data.encoding import (IMPUTE_ALIASES, IMPUTE_CHOICES, TableSource, check_complete,
                                     fit_encoding)
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData
from nnrecipes.data.stand_ins import write_table
from nnrecipes.data.table_columns import string_column
from nnrecipes.data.table_file import check_finite, read_table

log = logging.getLogger("nnrecipes")
# With dataset.task=auto, whole numbers with at most this many distinct values are classes.
MOST_CLASSES_OF_NUMBERS = 20


@dataclass
class CsvConfig(DatasetConfig):
    # The table: .csv, .tsv, or either gzipped. Relative paths start where nnrun was started.
    path: str = MISSING
    # The column to predict, and the columns to predict it from (null: every other column).
    target: str = MISSING
    features: Optional[List[str]] = None
    # Columns to leave out by name (of dataset.features, or of every column).
    exclude: List[str] = field(default_factory=list)
    # A column naming the group each row belongs to (a patient, a household): the test and
    # validation splits and the folds keep each group whole; it is not a feature. null: none.
    group: Optional[str] = None
    # auto: the target decides (text or few whole numbers: classes; other numbers: regression).
    task: str = setting(AUTO, choices=TASK_CHOICES)
    # median: missing values filled from the training split (median numbers, most frequent
    # strings), with an "is missing" column for each column that lacked some; error: refused.
    impute: str = setting("median", choices=IMPUTE_CHOICES, aliases=IMPUTE_ALIASES)
    # A separate test table with the same columns; null: a seeded split of dataset.path.
    test_path: Optional[str] = None
    # A string column's most frequent categories in training, one column each; the rest (and
    # any first seen later) share one "other" column.
    max_categories: int = setting(100, ge=1)
    # Leave out columns that identify rows: text with a distinct value in nearly every row
    # (ids, names, free text), distinct whole numbers named like an id or numbering the rows.
    drop_ids: bool = True
    # Text columns of dates become numbers: year, month, day, weekday (and hour, minute).
    parse_dates: bool = True
    # The character between fields, for both files: null is tab for .tsv files and a comma
    # otherwise; 'tab' names the tab.
    delimiter: Optional[str] = None


def _feature_columns(frame, cfg) -> List[str]:
    where = f"dataset.path={cfg.path}"
    _require_columns(frame, [cfg.target], "dataset.target", where)
    if cfg.features is None:
        features = [column for column in frame.columns if column != cfg.target]
    else:
        features = [str(column) for column in cfg.features]
        if not features:
            raise DataError("dataset.features=[] names no column to learn from: list at least "
                            "one, or leave dataset.features out to use every column besides the "
                            "target")
        _require_columns(frame, features, "dataset.features", where)
        if cfg.target in features:
            raise DataError(f"dataset.features lists the target column {cfg.target}")
    _require_columns(frame, list(cfg.exclude), "dataset.exclude", where)
    if cfg.group is not None:
        _require_columns(frame, [cfg.group], "dataset.group", where)
        if cfg.group == cfg.target:
            raise DataError(f"dataset.group={cfg.group} is the target column; name the column "
                            f"that says which rows belong together")
        features = [column for column in features if column != cfg.group]
    if cfg.target in cfg.exclude:
        raise DataError(f"dataset.exclude lists the target column {cfg.target}; set "
                        f"dataset.target to the column to predict")
    features = [column for column in features if column not in cfg.exclude]
    if not features:
        raise DataError(f"{where} has no column besides the target {cfg.target} to learn from"
                        + (" once dataset.exclude's are left out" if cfg.exclude else ""))
    return features


def _require_columns(frame, wanted: List[str], key: str, where: str) -> None:
    columns = [str(column) for column in frame.columns]
    for column in wanted:
        if column not in columns:
            close = difflib.get_close_matches(column, columns, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
            raise DataError(f"{key}: {where} has no column {column}{hint} (its columns: {shown})")


def decide_task(values, chosen: str, column: str) -> Task:
    """The task a target column asks for: ``chosen`` unless auto, checked against the values."""
    import pandas as pd

    distinct = values.nunique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    whole = numeric and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if distinct < 2:
        raise DataError(f"dataset.target={column} has one value ({_shown(values.iloc[0])}) in all "
                        f"{len(values)} rows: there is nothing to learn")
    if chosen == AUTO:
        classes = not numeric or (whole and distinct <= MOST_CLASSES_OF_NUMBERS)
        task = Task.of_classes(distinct) if classes else Task.regression
        kind = "numbers" if numeric else "strings"
        log.info(f"dataset.task=auto: {column} holds {distinct} distinct {kind} -> {task} "
                 f"(set dataset.task to choose)")
    else:
        task = Task(chosen)
    if task is Task.regression and not numeric:
        raise DataError(f"dataset.task={task} needs numbers, but dataset.target={column} "
                        f"holds text such as {values.iloc[0]!r}")
    if task is Task.binary and distinct != 2:
        raise DataError(f"dataset.task={task} needs two classes; dataset.target={column} has "
                        f"{distinct}. Use dataset.task={Task.multiclass} or {AUTO}")
    return task


def _shown(value) -> str:
    """A value as a user wrote it: 5.0 or 'east', not numpy's np.float64(5.0)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def class_names(values) -> List[str]:
    """The target's classes in order: numbers numerically, text alphabetically."""
    distinct = sorted(values.unique())
    return [str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            for value in distinct]


def _targets(values, task: Task, names: Optional[List[str]], where: str):
    if task is Task.regression:
        return values.to_numpy(dtype=np.float32)
    labels = values.map(lambda value: str(int(value)) if isinstance(value, float) and
                        value.is_integer() else str(value))
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise DataError(f"{where} has target classes the training file lacks: "
                        f"{', '.join(unknown[:5])}")
    return labels.map({name: index for index, name in enumerate(names)}).to_numpy(np.int64)


def _with_target(frame, target: str, where: str, quiet: bool = False):
    """Rows whose target is missing cannot be learnt from; they are left out, and said so."""
    missing = int(frame[target].isna().sum())
    if missing == len(frame):
        raise DataError(f"dataset.target={target} is missing in every row of {where}")
    if missing and not quiet:
        log.warning(f"{where}: {missing} rows without a {target} left out")
    return frame[frame[target].notna()].reset_index(drop=True)


def _rows(frame, where: str, cfg, features: List[str], task: Task,
          names: Optional[List[str]]) -> Tuple[object, np.ndarray]:
    """The feature columns (encoded after the split) and the targets as numbers."""
    source = TableSource(where)
    check_finite(frame, features, where, source.finite_hint())
    check_finite(frame, [cfg.target], where, "replace them in the file, or empty those cells: "
                                             "rows without a target are left out")
    frame = _with_target(frame, cfg.target, where)
    if cfg.impute == "error":
        check_complete(frame[features], source)
    grouped = [cfg.group] if cfg.group is not None and cfg.group in frame.columns else []
    if grouped and frame[cfg.group].isna().any():
        raise DataError(f"{where}: dataset.group={cfg.group} is missing in "
                        f"{int(frame[cfg.group].isna().sum())} rows; every row needs its group")
    return frame[features + grouped], _targets(frame[cfg.target], task, names, where)


def _test_rows(cfg, features: List[str], text: List[str], task: Task,
               names: Optional[List[str]]):
    """The test table's rows; columns that hold text in the training file are read as text
    here too, so that 5 stays the category '5' and does not become 5.0."""
    where = f"dataset.test_path={cfg.test_path}"
    frame = read_table(cfg.test_path, "dataset.test_path", cfg.delimiter, text_columns=text)
    _require_columns(frame, [cfg.target, *features], "dataset.test_path", where)
    return _rows(frame, where, cfg, features, task, names)


def load_csv(cfg) -> RawData:
    where = f"dataset.path={cfg.path}"
    frame = read_table(cfg.path, "dataset.path", cfg.delimiter)
    features = _feature_columns(frame, cfg)
    task = decide_task(_with_target(frame, cfg.target, where, quiet=True)[cfg.target], cfg.task,
                       cfg.target)
    names = class_names(frame[cfg.target].dropna()) if task.classification else None
    x, y = _rows(frame, where, cfg, features, task, names)
    text = [column for column in features if string_column(frame[column])]
    if task.classification and string_column(frame[cfg.target]):
        text.append(cfg.target)
    test = _test_rows(cfg, features, text, task, names) if cfg.test_path else None
    test_where = f"dataset.test_path={cfg.test_path}" if cfg.test_path else None
    return RawData(x, y, names, test=test, task=task,
                   fit_encoding=partial(fit_encoding, impute=cfg.impute,
                                        max_categories=cfg.max_categories, where=where,
                                        delimiter=cfg.delimiter, drop_ids=cfg.drop_ids,
                                        parse_dates=cfg.parse_dates, group=cfg.group,
                                        excluded=[c for c in cfg.exclude
                                                  if cfg.features is None or c in cfg.features]),
                   origins=(where, test_where), group=cfg.group)


declare("dataset", "csv", CsvConfig, load_csv, table=True, stand_in=write_table)
