"""Whether a few rows hold most of a regression test's squared error: then its R² (and RMSE)
says more about those rows than about the model, and the summary says so."""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

FEW = 3  # the rows whose share is reported
DOMINANT = 0.5  # the share of the squared error beyond which they are said to dominate
SMALLEST_TEST = 20  # fewer test rows: a few rows are a large part of it anyway
CONCENTRATION = "test_error_concentration"  # summary.json's key for it


def concentrated_error(predicted, targets) -> Optional[Dict[str, Any]]:
    """{"rows": 3, "share": 0.72, "of": 1052} where the 3 rows with the largest errors hold at
    least half of the squared error; None otherwise."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(len(targets), -1)[:, 0]
    errors = np.square(predicted - np.asarray(targets, dtype=np.float64))
    total = float(errors.sum())
    if len(errors) < SMALLEST_TEST or total == 0:
        return None
    share = float(np.sort(errors)[-FEW:].sum() / total)
    if share < DOMINANT:
        return None
    return {"rows": FEW, "share": round(share, 4), "of": len(errors)}


def in_words(concentration: Dict[str, Any]) -> str:
    return (f"{concentration['rows']} of the {concentration['of']} test rows hold "
            f"{concentration['share']:.0%} of the squared error: the test R² and RMSE depend "
            f"mostly on them (look at those rows, or read the median absolute error)")
