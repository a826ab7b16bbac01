"""Seeded splits of a data set's rows: the test split (tables without one of their own) and the
validation split, stratified for classification; or, for k-fold cross-validation, one fold of
the training pool as the validation split."""

from __future__ import annotations

import math

from nnrecipes.data.errors import DataError


def split_test(x, y, test_size: float, seed: int, stratify: bool):
    """(x_pool, x_test, y_pool, y_test): ``test_size`` of the rows held out for testing."""
    count = math.ceil(test_size * len(y))
    if len(y) - count < 3:
        raise DataError(
            f"dataset.test_size={test_size} leaves no room for training: of {len(y)} samples the "
            f"test set would take {count}, and training and validation need at least 3. "
            f"Use a fraction such as dataset.test_size=0.2.")
    return _split(x, y, count, seed, stratify)


def split_validation(x, y, val_size: float, seed: int, stratify: bool):
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
    return _split(x, y, count, seed, stratify)


def _split(x, y, count: int, seed: int, stratify: bool):
    from sklearn.model_selection import train_test_split  # here: composing needs no sklearn

    try:
        return train_test_split(x, y, test_size=count, random_state=seed,
                                stratify=y if stratify else None)
    except ValueError:
        # Too few samples of some class to stratify (tiny runs): split plainly.
        return train_test_split(x, y, test_size=count, random_state=seed)


def split_fold(x, y, fold: int, folds: int, seed: int, stratify: bool):
    """(x_train, x_val, y_train, y_val) with fold ``fold`` (1..folds) of the pool as validation:
    the folds of scikit-learn's ``StratifiedKFold(n_splits=folds, shuffle=True,
    random_state=seed)`` (``KFold`` for regression), so its cross_val_score scores the same rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if folds > len(y):
        raise DataError(f"trainer.folds={folds} is more than the {len(y)} samples of the "
                        f"training pool; use at most trainer.folds={len(y)}")
    if stratify:
        fewest = min(int((y == label).sum()) for label in set(y.tolist()))
        if fewest < folds:
            raise DataError(f"trainer.folds={folds}: the training pool's rarest class has "
                            f"{fewest} samples, too few for a share in each of {folds} folds; "
                            f"use trainer.folds={max(fewest, 2)} or fewer")
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=folds, shuffle=True,
                                                        random_state=seed)
    train, val = list(splitter.split(x, y))[fold - 1]
    take = (lambda rows, index: rows.iloc[index]) if hasattr(x, "iloc") else \
        (lambda rows, index: rows[index])
    return take(x, train), take(x, val), y[train], y[val]
