"""What every loader returns, before splitting and moving to the device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np


@dataclass
class RawData:
    x: np.ndarray  # float32 features, or uint8 images shaped (N, C, H, W)
    y: np.ndarray  # int64 class indices, or float32 regression targets
    class_names: Optional[List[str]]
    # The data set's official test split, when it has one; otherwise a seeded split is made.
    test: Optional[Tuple[np.ndarray, np.ndarray]] = None
