"""Seeded splits of a data set's rows: the test split (tables without one of their own) and the
validation split, stratified for classification; or, for k-fold cross-validation, one fold of
the training pool as the validation split."""

from __future__ import annotations

import logging
import math
import warnings
from typing import Optional

from nnrecipes.data.errors import DataError

log = logging.getLogger("nnrecipes")


def split_test(x, y, test_size: float, seed: int, stratify: bool, group: Optional[str] = None):
    """(x_pool, x_test, y_pool, y_test): ``test_size`` of the rows held out for testing; with
    ``group`` (a column of the table ``x``), whole groups."""
    count = math.ceil(test_size * len(y))
    if len(y) - count < 3:
        raise DataError(
            f"dataset.test_size={test_size} leaves no room for training: of {len(y)} samples the "
            f"test set would take {count}, and training and validation need at least 3. "
            f"Use a fraction such as dataset.test_size=0.2.")
    return _split(x, y, count, seed, stratify, group, "test")


def split_validation(x, y, val_size: float, seed: int, stratify: bool,
                     group: Optional[str] = None):
    """(x_train, x_val, y_train, y_val): ``val_size`` (a fraction, or a count) of the pool."""
    count = round(val_size * len(y)) if val_size < 1 else int(val_size)
    if count < 1:
        raise DataError(
            f"dataset.val_size={val_size} of a {len(y)}-sample training pool gives no validation "
            f"samples; raise dataset.val_size (or dataset.limit).")
    if count > len(y) - 2:
        raise DataError(
            f"dataset.val_size={val_size} leaves no room for training: the training pool has "
            f"{len(y)} samples, the validation set would take {count}. "
            f"Use a fraction such as dataset.val_size=0.1.")
    return _split(x, y, count, seed, stratify, group, "validation")


def _split(x, y, count: int, seed: int, stratify: bool, group: Optional[str] = None,
           which: str = "validation"):
    from sklearn.model_selection import train_test_split  # here: composing needs no sklearn

    if group is not None:
        from sklearn.model_selection import GroupShuffleSplit

        groups = _groups(x, group)
        _check_groups_split(groups, count / len(y), group, which)
        splitter = GroupShuffleSplit(n_splits=1, test_size=count / len(y), random_state=seed)
        train, held_out = next(splitter.split(x, y, groups))
        return _take(x, train), _take(x, held_out), y[train], y[held_out]

    try:
        return train_test_split(x, y, test_size=count, random_state=seed,
                                stratify=y if stratify else None)
    except ValueError:
        # Too few samples of some class to stratify (tiny runs): split plainly.
        return train_test_split(x, y, test_size=count, random_state=seed)


def split_fold(x, y, fold: int, folds: int, seed: int, stratify: bool,
               group: Optional[str] = None):
    """(x_train, x_val, y_train, y_val) with fold ``fold`` (1..folds) of the pool as validation:
    the folds of scikit-learn's ``StratifiedKFold(n_splits=folds, shuffle=True,
    random_state=seed)`` (``KFold`` for regression), so its cross_val_score scores the same rows;
    with ``group``, ``StratifiedGroupKFold`` (``GroupKFold``): no group in two folds."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if folds > len(y):
        raise DataError(f"trainer.folds={folds} is more than the {len(y)} samples of the "
                        f"training pool; use at most trainer.folds={len(y)}")
    if stratify:
        _check_classes(y, folds)
    if group is None:
        kind = StratifiedKFold if stratify else KFold
        splits = kind(n_splits=folds, shuffle=True, random_state=seed).split(x, y)
    else:
        groups = _groups(x, group)
        if len(set(groups)) < folds:
            raise DataError(f"trainer.folds={folds}: dataset.group={group} has "
                            f"{len(set(groups))} groups in the training pool; use at most "
                            f"trainer.folds={len(set(groups))}")
        kind = StratifiedGroupKFold if stratify else GroupKFold
        splits = kind(n_splits=folds, shuffle=True, random_state=seed).split(x, y, groups)
    with warnings.catch_warnings():  # a class rarer than the folds: _check_classes said so
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        train, val = list(splits)[fold - 1]
    return _take(x, train), _take(x, val), y[train], y[val]


def _check_groups_split(groups, fraction: float, group: str, which: str) -> None:
    """GroupShuffleSplit's own rule (held-out groups = ceil(fraction x groups), the rest
    train), checked first so that a table with too few groups is told which split cannot be
    made instead of scikit-learn's internal error."""
    distinct = sorted(set(groups))
    held = math.ceil(fraction * len(distinct))
    if len(distinct) - held >= 1:
        return
    pool = "table" if which == "test" else "training pool"
    shown = ", ".join(distinct[:3]) + (", ..." if len(distinct) > 3 else "")
    raise DataError(f"dataset.group={group}: the {which} split takes whole groups, and the "
                    f"{pool} has {len(distinct)} group{'s' * (len(distinct) != 1)} ({shown}), "
                    f"which leaves none for training; a split by groups needs a column with "
                    f"at least 3 groups (test, validation and training each take one), or "
                    f"leave dataset.group unset")


def _take(rows, index):
    return rows.iloc[index] if hasattr(rows, "iloc") else rows[index]


def _groups(x, group: str):
    """The group of each row: a column of the table (kept in it until encoding)."""
    return x[group].astype(str).to_numpy()


def _check_classes(y, folds: int) -> None:
    """As scikit-learn's StratifiedKFold: a class rarer than the folds is missing from some
    folds' validation rows (said in the log); only when every class is, it is an error."""
    counts = sorted(int((y == label).sum()) for label in set(y.tolist()))
    if counts[-1] < folds:
        raise DataError(f"trainer.folds={folds}: the training pool's largest class has "
                        f"{counts[-1]} rows, fewer than the folds; use at most "
                        f"trainer.folds={max(counts[-1], 2)}")
    if counts[0] < folds:
        rare = sum(count < folds for count in counts)
        log.warning(f"trainer.folds={folds}: {rare} class{'es' * (rare > 1)} of the training "
                    f"pool ha{'ve' if rare > 1 else 's'} fewer rows than the folds (the rarest "
                    f"{counts[0]}), so some folds validate without them")
