"""Data sets as tensors on the device: ``build_data(dataset_cfg, seed, device)`` is the only entry.

Every data set's loader (components/datasets/) returns a :class:`RawData` in numpy; this module
splits it (seeded, stratified where each sample has one class), computes the normalisation
statistics on the training split only, and moves each split to the device as one tensor (or,
for pictures larger than memory, as their decoded file read batch by batch: file_images.py).
Images stay uint8; the model normalises them on the fly. It also owns the one answer to "is
this image data".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from nnrecipes.core.registry import component, declared
from nnrecipes.core.task import AUTO, Task
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData

__all__ = ["DataBundle", "DataError", "Split", "build_data", "declared_image_data",
           "declared_task", "image_data", "image_data_named", "image_datasets"]


@dataclass
class Split:
    x: Any  # torch.Tensor
    y: Any

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class DataBundle:
    train: Split
    val: Split
    test: Split
    task: Task
    input_shape: Tuple[int, ...]
    num_outputs: int
    class_names: Optional[List[str]]
    # Normalisation statistics, fit on the training split only; the model applies them.
    stats: Dict[str, Any]
    # How a table's columns became numbers (TableEncoding.to_dict()); None for arrays.
    encoding: Optional[Dict[str, Any]] = None


def image_data(input_shape: Tuple[int, ...]) -> bool:
    """Image data is (channels, height, width) per sample; every "is this image data?" asks here."""
    return len(input_shape) == 3


def declared_image_data(dataset_cfg) -> Optional[bool]:
    """Whether the configured data set is image data, before loading it (None: not known yet)."""
    return image_data_named(dataset_cfg.name)


def image_data_named(name: str) -> Optional[bool]:
    """Whether the data set option ``name`` is image data (None: the user's code decides)."""
    item = component("dataset", name)
    return None if item.trait("user_code") else bool(item.trait("image"))


def image_datasets() -> List[str]:
    """The data sets declared as image data, by name."""
    return sorted(name for name, item in declared("dataset").items() if item.trait("image"))


def declared_task(dataset_cfg) -> Optional[Task]:
    """The task of the data set ``dataset_cfg`` configures, known before it is loaded (None
    where the data decides it when loaded: dataset.task=auto)."""
    task = component("dataset", dataset_cfg.name).trait("task") or dataset_cfg.get("task")
    return None if task in (None, AUTO) else Task(task)


def build_data(dataset_cfg, seed: int, device, fold: Optional[Tuple[int, int]] = None,
               encoding: Optional[Dict[str, Any]] = None) -> DataBundle:
    """Load, split and normalise the data set that ``dataset_cfg`` (the dataset section)
    configures; ``seed`` seeds the splits. ``fold`` (k, folds): the k-th of that many folds of
    the training pool is the validation split (cross-validation). ``encoding``: a table's
    encoding as a checkpoint holds it, used as it is instead of one learnt again (mode=eval)."""
    from nnrecipes.data.checks import check_finite_arrays, check_labels
    from nnrecipes.data.splits import split_test

    raw = _standing_in(loaded(dataset_cfg))
    task = raw.task or declared_task(dataset_cfg)
    if task.one_label:
        check_labels(dataset_cfg.name, raw)
    if raw.test is None:
        x_pool, x_test, y_pool, y_test = split_test(raw.x, raw.y, dataset_cfg.test_size, seed,
                                                    task.one_label, raw.group)
    else:
        (x_pool, y_pool), (x_test, y_test) = (raw.x, raw.y), raw.test
    x_train, x_val, y_train, y_val = _training_and_validation(
        raw, (x_pool, y_pool), dataset_cfg, seed, fold, task.one_label)
    if raw.fit_encoding is None:
        check_finite_arrays(dataset_cfg.name, task, ((raw.x, raw.y), raw.test, raw.val))
        encoding = None
    else:  # a table: its encoding is learnt on the training split
        encoding = raw.fit_encoding(x_train) if encoding is None else _saved(encoding)
        x_train, x_val, x_test = _encoded(encoding, raw, dataset_cfg.name,
                                          (x_train, x_val, x_test))
    return DataBundle(
        *(Split(_as_tensor(x, device), _as_tensor(y, device))
          for x, y in ((x_train, y_train), (x_val, y_val), (x_test, y_test))),
        task=task, input_shape=tuple(x_train.shape[1:]),
        num_outputs=task.outputs(len(raw.class_names or [])), class_names=raw.class_names,
        stats=_training_stats(x_train, y_train, task, _target_space(
            dataset_cfg, task, (x_train, y_train), (x_val, y_val), seed)),
        encoding=_encoding(encoding, raw.columns))


def _standing_in(raw: RawData) -> RawData:
    """``raw`` with pixels read in place from a decoded file (data/file_images.py) as the rows
    that stand in for them while splitting."""
    from nnrecipes.data.file_images import FileRows, on_file

    if not on_file(raw.x):
        return raw
    pair = lambda split: None if split is None else (  # noqa: E731
        FileRows(split[0]) if on_file(split[0]) else split[0], split[1])
    return dataclasses.replace(raw, x=FileRows(raw.x), test=pair(raw.test), val=pair(raw.val))


def _training_and_validation(raw: RawData, pool, dataset_cfg, seed: int,
                             fold: Optional[Tuple[int, int]], stratified: bool):
    """(x_train, x_val, y_train, y_val): the data set's own validation split where it has one
    (a val/ folder), else a seeded draw from the pool; with ``fold``, that fold of the pool
    (which then includes the data set's own validation rows)."""
    from nnrecipes.data.splits import split_fold, split_validation

    x_pool, y_pool = pool
    if raw.val is not None and fold is not None:
        if not isinstance(x_pool, np.ndarray):
            raise DataError("cross-validation pools the val/ folder with the training folder; "
                            "with pictures read from their decoded file (more than memory "
                            "holds) it cannot yet: merge val/ into train/, or drop "
                            "trainer.folds")
        x_pool, y_pool = np.concatenate([x_pool, raw.val[0]]), np.concatenate([y_pool, raw.val[1]])
    if dataset_cfg.limit is not None:
        x_pool, y_pool = x_pool[: dataset_cfg.limit], y_pool[: dataset_cfg.limit]
    if fold is not None:
        return split_fold(x_pool, y_pool, *fold, seed, stratified, raw.group)
    if raw.val is not None:
        return x_pool, raw.val[0], y_pool, raw.val[1]
    return split_validation(x_pool, y_pool, dataset_cfg.val_size, seed, stratified,
                            raw.group)


# Keys used only after loading (splits, batches, epochs): they do not change what is loaded.
AFTER_LOADING = ("batch_size", "eval_batch_size", "epochs", "val_size", "test_size", "limit",
                 "augment", "augment_padding", "augment_scale")
# The last data set this process loaded, by its settings (one, to bound the memory held).
_last_loaded: Dict[str, RawData] = {}


def loaded(dataset_cfg) -> RawData:
    """What the data set's loader returns, once per process for the same settings and files:
    the jobs of a sequential sweep, a search's trials and a cross-validation's folds that
    differ only in other keys (or in AFTER_LOADING's) read and decode it once. Its arrays are
    made read-only, so no run can change what the next one gets."""
    import json
    import os

    from omegaconf import OmegaConf

    settings = OmegaConf.to_container(dataset_cfg, resolve=True)
    for key in AFTER_LOADING:
        settings.pop(key, None)
    files = {key: _file_facts(settings.get(key)) for key in ("path", "test_path", "data_dir")}
    key = json.dumps([settings, files, os.environ.get("NNRECIPES_CACHE_DIR")], sort_keys=True,
                     default=str)
    if key not in _last_loaded:
        _last_loaded.clear()
        raw = component("dataset", dataset_cfg.name).build(dataset_cfg)
        for array in (raw.x, raw.y, *(raw.test or ()), *(raw.val or ())):
            if isinstance(array, np.ndarray):
                array.flags.writeable = False
        _last_loaded[key] = raw
    return _last_loaded[key]


def _file_facts(path: Any) -> Any:
    """A file's size and modification time, so a file changed between two runs of one process
    is loaded again."""
    import os

    try:
        facts = os.stat(os.path.expanduser(str(path)))
    except (OSError, TypeError, ValueError):
        return None
    return [facts.st_size, facts.st_mtime_ns]


def _encoded(encoding, raw: RawData, name: str, splits):
    """Each split of a table as float32 rows; messages name the file each came from."""
    pool, test_file = raw.origins or (f"dataset={name}", None)
    wheres = (f"{pool} (training split)", f"{pool} (validation split)",
              test_file or f"{pool} (test split)")
    return tuple(encoding.transform(x, where) for x, where in zip(splits, wheres))


def _saved(encoding: Dict[str, Any]):
    from nnrecipes.data.encoding import TableEncoding

    return TableEncoding.from_dict(encoding)


def _encoding(encoding, columns: Optional[List[str]]) -> Optional[Dict[str, Any]]:
    """What predicting from a table needs: the fitted encoding, or the plain column names."""
    if encoding is None and columns is not None:
        from nnrecipes.data.encoding import TableEncoding

        encoding = TableEncoding(list(columns), {}, {})
    return encoding.to_dict() if encoding is not None else None


def _target_space(dataset_cfg, task: Task, train, val, seed: int):
    """The space regression targets are learnt in (data/target_space.py); None otherwise."""
    if task.classification or image_data(train[0].shape[1:]):
        return None
    from nnrecipes.data.target_space import target_space

    return target_space(dataset_cfg.get("target_transform", "auto"), *train, *val, seed)


def _training_stats(x: np.ndarray, y: np.ndarray, task: Task, transform) -> Dict[str, Any]:
    import torch

    from nnrecipes.data.file_images import FileRows, channel_statistics

    if image_data(x.shape[1:]):
        # Per-channel statistics, shaped to broadcast over (C, H, W), summed a chunk of
        # pictures at a time: float64 copies of them all would take 8 times their memory.
        source, rows = (x.source, x.rows) if isinstance(x, FileRows) else (x, np.arange(len(x)))
        mean, std = channel_statistics(source, rows)
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
    if not image_data(x.shape[1:]):
        stats.update(_robust_stats(x, stats["input_std"].numpy()))
    if not task.classification:
        # In float64: the squares of large float32 targets overflow float32.
        targets = np.asarray(y, dtype=np.float64)
        if transform is not None and transform.value != "none":
            stats["target_transform"] = transform.value
            targets = transform.forward(torch.from_numpy(targets)).numpy()
        stats["target_mean"] = torch.tensor(float(targets.mean()))
        stats["target_std"] = torch.tensor(float(targets.std()) or 1.0)
        stats["target_low"] = torch.tensor(float(targets.min()))
        stats["target_high"] = torch.tensor(float(targets.max()))
    return stats


def _robust_stats(x: np.ndarray, std: np.ndarray) -> Dict[str, Any]:
    """Each column's median and interquartile range (over 1.349, a normal's standard
    deviation; the standard deviation where the quartiles coincide, as in a rare category's
    0/1 column), and whether it holds more than two values: what model=tabular scales by and
    embeds."""
    import torch

    lower, median, upper = np.percentile(x, [25, 50, 75], axis=0)
    spread = (upper - lower) / 1.349
    numeric = ((x != x.min(axis=0)) & (x != x.max(axis=0))).any(axis=0)
    return {"input_median": torch.tensor(median, dtype=torch.float32),
            "input_iqr_scale": torch.tensor(np.where(spread > 0, spread, std),
                                            dtype=torch.float32),
            "input_numeric": torch.tensor(numeric)}


def _as_tensor(array: np.ndarray, device):
    import torch

    from nnrecipes.data.file_images import FileImages, FileRows

    if isinstance(array, FileRows):
        return FileImages(array.source, array.rows, device)
    # pandas hands out read-only arrays; torch wants writable ones (a copy only then).
    return torch.from_numpy(np.require(array, requirements=["C", "W"])).to(device)
