"""Data sets as tensors on the device: ``build_data(cfg, device)`` is the only entry point.

Every loader returns a :class:`RawData` in numpy; this module splits it (seeded, stratified for
classification), computes the normalisation statistics on the training split only, and moves each
split to the device as one tensor. Images stay uint8; the model normalises them on the fly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData
from nnrecipes.data import images, tabular

__all__ = ["DataBundle", "DataError", "DatasetSpec", "DATASETS", "Split", "build_data"]


@dataclass(frozen=True)
class DatasetSpec:
    task: str  # "regression", "binary" or "multiclass"
    image: bool
    load: Callable[..., RawData]


DATASETS: Dict[str, DatasetSpec] = {
    "iris": DatasetSpec("multiclass", False, tabular.load_iris),
    "wine": DatasetSpec("multiclass", False, tabular.load_wine),
    "breast_cancer": DatasetSpec("binary", False, tabular.load_breast_cancer),
    "diabetes": DatasetSpec("regression", False, tabular.load_diabetes),
    "california": DatasetSpec("regression", False, tabular.load_california),
    "logic_gates": DatasetSpec("binary", False, tabular.load_logic_gates),
    "digits": DatasetSpec("multiclass", True, images.load_digits),
    "mnist": DatasetSpec("multiclass", True, images.load_mnist),
    "fashion_mnist": DatasetSpec("multiclass", True, images.load_fashion_mnist),
}


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class DataBundle:
    train: Split
    val: Split
    test: Split
    task: str
    input_shape: Tuple[int, ...]
    num_outputs: int
    class_names: Optional[List[str]]
    # Normalisation statistics, fit on the training split only; the model applies them.
    stats: Dict[str, torch.Tensor]


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"dataset={name!r} is unknown; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def build_data(cfg, device: torch.device) -> DataBundle:
    """Load, split and normalise the data set that ``cfg.dataset`` names; cfg is the whole config."""
    spec = dataset_spec(cfg.dataset.name)
    raw = spec.load(cfg.dataset)
    stratify = spec.task != "regression"
    if stratify:
        _check_labels(cfg.dataset.name, raw)
    if raw.test is None:
        x_pool, x_test, y_pool, y_test = _split_test(raw.x, raw.y, cfg, stratify)
    else:
        (x_pool, y_pool), (x_test, y_test) = (raw.x, raw.y), raw.test
    if cfg.dataset.limit is not None:
        x_pool, y_pool = x_pool[: cfg.dataset.limit], y_pool[: cfg.dataset.limit]
    x_train, x_val, y_train, y_val = _split_validation(x_pool, y_pool, cfg, stratify)
    splits = [Split(_as_tensor(x, device), _as_tensor(y, device))
              for x, y in ((x_train, y_train), (x_val, y_val), (x_test, y_test))]
    return DataBundle(
        *splits,
        task=spec.task,
        input_shape=tuple(x_train.shape[1:]),
        num_outputs=len(raw.class_names) if spec.task == "multiclass" else 1,
        class_names=raw.class_names,
        stats=_training_stats(x_train, y_train, spec),
    )


def _check_labels(name: str, raw: RawData) -> None:
    """Class indices outside 0..classes-1 would fail deep inside the loss; say so here."""
    classes = len(raw.class_names or [])
    test = None if raw.test is None else raw.test[1]
    for split, labels in (("training", raw.y), ("test", test)):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= classes):
            raise DataError(f"dataset={name}: its {split} labels run from {labels.min()} to "
                            f"{labels.max()}, but it has {classes} classes (0 to {classes - 1})")


def _split_test(x, y, cfg, stratify: bool):
    test_size = cfg.dataset.test_size
    count = math.ceil(test_size * len(y))
    if len(y) - count < 3:
        raise DataError(
            f"dataset.test_size={test_size} leaves no room for training: of {len(y)} samples the "
            f"test set would take {count}, and training and validation need at least 3. "
            f"Use a fraction such as dataset.test_size=0.2.")
    return _split(x, y, count, cfg.seed, stratify)


def _split_validation(x, y, cfg, stratify: bool):
    val_size = cfg.dataset.val_size
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
    return _split(x, y, count, cfg.seed, stratify)


def _split(x, y, count: int, seed: int, stratify: bool):
    try:
        return train_test_split(x, y, test_size=count, random_state=seed,
                                stratify=y if stratify else None)
    except ValueError:
        # Too few samples of some class to stratify (tiny runs): split plainly.
        return train_test_split(x, y, test_size=count, random_state=seed)


def _training_stats(x: np.ndarray, y: np.ndarray, spec: DatasetSpec) -> Dict[str, torch.Tensor]:
    if spec.image:
        # Per-channel statistics, shaped to broadcast over (C, H, W).
        pixels = x.astype(np.float64).transpose(1, 0, 2, 3).reshape(x.shape[1], -1)
        mean, std = pixels.mean(axis=1), pixels.std(axis=1)
        shape = (-1, 1, 1)
    else:
        scaler = StandardScaler().fit(x)
        mean, std = scaler.mean_, scaler.scale_
        shape = (-1,)
    stats = {
        "input_mean": torch.tensor(mean, dtype=torch.float32).reshape(shape),
        "input_std": torch.tensor(np.where(std > 0, std, 1.0), dtype=torch.float32).reshape(shape),
    }
    if spec.task == "regression":
        stats["target_mean"] = torch.tensor(float(y.mean()))
        stats["target_std"] = torch.tensor(float(y.std()) or 1.0)
    return stats


def _as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)
