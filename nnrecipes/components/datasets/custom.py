"""A user's own data set: ``dataset=custom dataset.target=my_data:load dataset.task=multiclass``.

The target is a function called with ``dataset.args`` as keywords. It returns the features and
targets as arrays, ``(x, y)``, or a dict with ``x``, ``y`` and optionally ``class_names`` and
``test`` (an ``(x, y)`` pair: the official test split; otherwise a seeded split is made). Images
are arrays shaped (N, C, H, W), best as uint8; class labels are integers 0..classes-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping

import numpy as np
from omegaconf import MISSING, OmegaConf

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.targets import call_target
from nnrecipes.core.task import TASK_NAMES, Task
from nnrecipes.data import image_data
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData


@dataclass
class CustomDatasetConfig(DatasetConfig):
    # module:function returning (x, y) or {"x", "y", "class_names", "test"}.
    target: str = MISSING
    args: Dict[str, Any] = field(default_factory=dict)
    task: str = setting(Task.multiclass.value, choices=TASK_NAMES)


def _array(value: Any, what: str, spec: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as error:
        raise DataError(f"dataset.target={spec} returned {what} that is not an array: "
                        f"{error}") from None


def load_custom(cfg) -> RawData:
    args = OmegaConf.to_container(cfg.args) if OmegaConf.is_config(cfg.args) else dict(cfg.args)
    loaded = call_target(cfg.target, "dataset.target", **args)
    if isinstance(loaded, Mapping) and {"x", "y"} <= set(loaded):
        x, y, names, test = loaded["x"], loaded["y"], loaded.get("class_names"), loaded.get("test")
    elif isinstance(loaded, (tuple, list)) and len(loaded) == 2:
        (x, y), names, test = loaded, None, None
    else:
        raise DataError(f"dataset.target={cfg.target} returned a {type(loaded).__name__}; it must "
                        f"return (x, y) or a dict with x, y and optionally class_names, test")
    x, y = _array(x, "x", cfg.target), _array(y, "y", cfg.target)
    if len(x) != len(y) or len(x) == 0 or x.ndim < 2:
        raise DataError(f"dataset.target={cfg.target} returned x {x.shape} and y {y.shape}: one "
                        f"row of x per target, at least one feature, at least one row")
    classification = Task(cfg.task).classification
    if classification and names is None:
        names = [str(label) for label in range(int(y.max()) + 1)]
    if test is not None:
        test_x, test_y = (_array(part, "test", cfg.target) for part in test)
        test = (_as_inputs(test_x, None, cfg.target, "test x"),
                _as_inputs(test_y, classification, cfg.target, "test y"))
    return RawData(_as_inputs(x, None, cfg.target, "x"),
                   _as_inputs(y, classification, cfg.target, "y"),
                   [str(name) for name in names] if classification else None, test=test)


def _as_inputs(array: np.ndarray, labels: Any, spec: str, what: str) -> np.ndarray:
    """Images stay uint8; other features become float32; labels int64, targets float32."""
    if labels is None and array.dtype == np.uint8 and image_data(array.shape[1:]):
        return array
    wanted = np.int64 if labels else np.float32
    if labels and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DataError(f"dataset.target={spec} returned {what} with NaN or infinite class "
                        f"labels; labels are whole numbers 0..classes-1")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # checked after loading
            return array.astype(wanted)
    except (TypeError, ValueError) as error:
        raise DataError(f"dataset.target={spec} returned {what} that is not numbers "
                        f"({error}); return numeric arrays") from None


# Its task comes from dataset.task; whether it is image data, from the arrays' shape.
declare("dataset", "custom", CustomDatasetConfig, load_custom, user_code=True)
