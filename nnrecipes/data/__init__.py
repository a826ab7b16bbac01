"""Data sets as tensors on the device: ``build_data(cfg, device)`` is the only entry point.

Every loader returns a :class:`RawData` in numpy; this module splits it (seeded, stratified for
classification), computes the normalisation statistics on the training split only, and moves each
split to the device as one tensor. Images stay uint8; the model normalises them on the fly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from nnrecipes.components import component
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData

__all__ = ["DataBundle", "DataError", "Split", "build_data", "declared_image_data",
           "declared_task", "image_data"]


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
    # How a table's columns became numbers (TableEncoding.to_dict()); None for arrays.
    encoding: Optional[Dict[str, Any]] = None


def declared_task(dataset_cfg) -> str:
    """The task of the data set ``dataset_cfg`` configures, known before it is loaded ("auto"
    where the data decides it when loaded)."""
    return component("dataset", dataset_cfg.name).trait("task") or dataset_cfg.task


def image_data(input_shape: Tuple[int, ...]) -> bool:
    """Image data is (channels, height, width) per sample; every "is this image data?" asks here."""
    return len(input_shape) == 3


def declared_image_data(dataset_cfg) -> Optional[bool]:
    """Whether the configured data set is image data, before loading it (None: not known yet)."""
    item = component("dataset", dataset_cfg.name)
    return None if item.trait("user_code") else bool(item.trait("image"))


def build_data(cfg, device: torch.device) -> DataBundle:
    """Load, split and normalise the data set ``cfg.dataset`` names (cfg is the whole config)."""
    raw = component("dataset", cfg.dataset.name).build(cfg.dataset)
    task = raw.task or declared_task(cfg.dataset)
    stratify = task != "regression"
    if stratify:
        _check_labels(cfg.dataset.name, raw)
    if raw.test is None:
        x_pool, x_test, y_pool, y_test = _split_test(raw.x, raw.y, cfg, stratify)
    else:
        (x_pool, y_pool), (x_test, y_test) = (raw.x, raw.y), raw.test
    if cfg.dataset.limit is not None:
        x_pool, y_pool = x_pool[: cfg.dataset.limit], y_pool[: cfg.dataset.limit]
    x_train, x_val, y_train, y_val = _split_validation(x_pool, y_pool, cfg, stratify)
    encoding = None
    if raw.fit_encoding is not None:  # a table: its encoding is learnt on the training split
        encoding = raw.fit_encoding(x_train)
        pool, test_file = raw.origins or (f"dataset={cfg.dataset.name}", None)
        x_train, x_val, x_test = (
            encoding.transform(x, where) for x, where in (
                (x_train, f"{pool} (training split)"), (x_val, f"{pool} (validation split)"),
                (x_test, test_file or f"{pool} (test split)")))
    else:
        _check_finite_arrays(cfg.dataset.name, task, ((raw.x, raw.y), raw.test))
    splits = [Split(_as_tensor(x, device), _as_tensor(y, device))
              for x, y in ((x_train, y_train), (x_val, y_val), (x_test, y_test))]
    return DataBundle(
        *splits,
        task=task,
        input_shape=tuple(x_train.shape[1:]),
        num_outputs=len(raw.class_names) if task == "multiclass" else 1,
        class_names=raw.class_names,
        stats=_training_stats(x_train, y_train, task),
        encoding=_encoding(encoding, raw.columns),
    )


def _encoding(encoding, columns: Optional[List[str]]) -> Optional[Dict[str, Any]]:
    """What predicting from a table needs: the fitted encoding, or the plain column names."""
    if encoding is None and columns is not None:
        from nnrecipes.data.encoding import TableEncoding

        encoding = TableEncoding(list(columns), {}, {})
    return encoding.to_dict() if encoding is not None else None


def _check_finite_arrays(name: str, task: str, splits) -> None:
    """Arrays a loader returned (a user's own data set) must hold numbers float32 can carry."""
    for index, split in enumerate(splits):
        if split is None:
            continue
        for what, array in zip(("x", "y"), split):
            if what == "y" and task != "regression" or array.dtype == np.uint8:
                continue
            with np.errstate(over="ignore"):  # what overflows is what is looked for
                bad = ~np.isfinite(np.asarray(array, dtype=np.float32))
            if bad.any():
                part = f"{'the test split' if index else 'its data'}'s {what}"
                count = int(bad.sum())
                raise DataError(f"dataset={name}: {part} holds {count} value{'s' * (count > 1)} "
                                f"that {'are' if count > 1 else 'is'} NaN, infinite or beyond "
                                f"float32's range of ±3.4e38; a network cannot learn from them: "
                                f"replace or leave out those rows")


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
    from sklearn.model_selection import train_test_split  # here: composing needs no sklearn

    try:
        return train_test_split(x, y, test_size=count, random_state=seed,
                                stratify=y if stratify else None)
    except ValueError:
        # Too few samples of some class to stratify (tiny runs): split plainly.
        return train_test_split(x, y, test_size=count, random_state=seed)


def _training_stats(x: np.ndarray, y: np.ndarray, task: str) -> Dict[str, torch.Tensor]:
    if image_data(x.shape[1:]):
        # Per-channel statistics, shaped to broadcast over (C, H, W).
        pixels = x.astype(np.float64).transpose(1, 0, 2, 3).reshape(x.shape[1], -1)
        mean, std = pixels.mean(axis=1), pixels.std(axis=1)
        shape = (-1, 1, 1)
    else:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x)
        mean, std = scaler.mean_, scaler.scale_
        shape = (-1,)
    stats = {
        "input_mean": torch.tensor(mean, dtype=torch.float32).reshape(shape),
        "input_std": torch.tensor(np.where(std > 0, std, 1.0), dtype=torch.float32).reshape(shape),
    }
    if task == "regression":
        # In float64: the squares of large float32 targets overflow float32.
        targets = np.asarray(y, dtype=np.float64)
        stats["target_mean"] = torch.tensor(float(targets.mean()))
        stats["target_std"] = torch.tensor(float(targets.std()) or 1.0)
    return stats


def _as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    # pandas hands out read-only arrays; torch wants writable ones (a copy only then).
    return torch.from_numpy(np.require(array, requirements=["C", "W"])).to(device)
