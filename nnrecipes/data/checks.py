"""Checks of what a loader returned, before it is split: labels within the classes, and numbers
that float32 can carry (a user's own arrays)."""

from __future__ import annotations

import numpy as np

from nnrecipes.core.task import Task
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData


def check_finite_arrays(name: str, task: Task, splits) -> None:
    """Arrays a loader returned (a user's own data set) must hold numbers float32 can carry."""
    for index, split in enumerate(splits):
        if split is None:
            continue
        for what, array in zip(("x", "y"), split):
            if what == "y" and task.classification or array.dtype == np.uint8:
                continue
            with np.errstate(over="ignore"):  # what overflows is what is looked for
                bad = ~np.isfinite(np.asarray(array, dtype=np.float32))
            if bad.any():
                part = f"{('its data', 'the test split', 'the validation split')[index]}'s {what}"
                count = int(bad.sum())
                raise DataError(f"dataset={name}: {part} holds {count} value{'s' * (count > 1)} "
                                f"that {'are' if count > 1 else 'is'} NaN, infinite or beyond "
                                f"float32's range of ±3.4e38; a network cannot learn from them: "
                                f"replace or leave out those rows")


def check_labels(name: str, raw: RawData) -> None:
    """Class indices outside 0..classes-1 would fail deep inside the loss; say so here."""
    classes = len(raw.class_names or [])
    test = None if raw.test is None else raw.test[1]
    for split, labels in (("training", raw.y), ("test", test)):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= classes):
            raise DataError(f"dataset={name}: its {split} labels run from {labels.min()} to "
                            f"{labels.max()}, but it has {classes} classes (0 to {classes - 1})")
