"""What every loader returns, before splitting and moving to the device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

import numpy as np


@dataclass
class RawData:
    # float32 features, uint8 images shaped (N, C, H, W), or a table (a DataFrame) that
    # ``fit_encoding`` turns into numbers once the training split is known.
    x: Any
    y: np.ndarray  # int64 class indices, or float32 regression targets
    class_names: Optional[List[str]]
    # The data set's official test split, when it has one; otherwise a seeded split is made.
    test: Optional[Tuple[Any, np.ndarray]] = None
    # Its own validation split (a val/ folder), used instead of a seeded draw from x, y; pooled
    # with them for cross-validation's folds.
    val: Optional[Tuple[Any, np.ndarray]] = None
    # The task, where the data decides it (a table's target column); None: the declared one.
    task: Optional[str] = None
    # Learns a TableEncoding from the training split's table (fit there only: no leakage).
    fit_encoding: Optional[Callable[[Any], Any]] = None
    # The feature columns' names, where the data has them: mode=predict reads a CSV by them.
    columns: Optional[List[str]] = None
    # How messages name where the rows came from: the training pool's file, and the test split's
    # where it is a file of its own ("dataset.path=homes.csv", "dataset.test_path=new.csv").
    origins: Optional[Tuple[str, Optional[str]]] = None
    # A column of the table ``x`` whose rows belong together (a patient, a household): splits
    # and folds keep each group whole; fit_encoding leaves it out of the features.
    group: Optional[str] = None
