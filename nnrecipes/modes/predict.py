"""``nnrun mode=predict checkpoint=RUN input=FILE_OR_FOLDER [output=PATH]``: predictions.csv.

The model rebuilds from ``best.pt`` alone. A table model reads a CSV by column name (the training
columns in any order; other columns are copied through); an image model reads image files, or a
folder of them, converted and resized as in training. Each row gets the predicted class and one
probability per class, or the predicted value for regression.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import torch
from omegaconf import DictConfig

from nnrecipes.components.datasets.image_folder import decode_images
from nnrecipes.components.models import model_from_checkpoint
from nnrecipes.core.config import ConfigError
from nnrecipes.core.task import Task, predicted_labels, probabilities
from nnrecipes.core.validation import validate
from nnrecipes.data import image_data
from nnrecipes.data.decode import IMAGE_SUFFIXES, resize_rule
from nnrecipes.data.encoding import TableEncoding
from nnrecipes.data.file_images import FileImages, on_file
from nnrecipes.data.image_files import CHUNK
from nnrecipes.data.label_table import separator_of
from nnrecipes.data.table_file import read_table
from nnrecipes.records.checkpoint import CheckpointError, load_checkpoint, write_atomically
from nnrecipes.run.devices import resolve_device
from nnrecipes.run.engine import predict

log = logging.getLogger("nnrecipes")
PREDICTIONS = "predictions.csv"


def run(cfg: DictConfig, run_dir: Path, context) -> None:
    predict_checkpoint(cfg, run_dir)


def predict_checkpoint(cfg: DictConfig, run_dir: Path) -> Path:
    """Predict every row or image of ``cfg.input`` with the checkpoint's model."""
    validate(cfg)
    saved = load_checkpoint(cfg.checkpoint, name="best.pt")
    device = resolve_device(cfg.device.name, cfg.device.threads)
    x, table = model_inputs(saved, cfg.input)
    model = model_from_checkpoint(saved).to(device)
    batch_size = saved["config"]["dataset"]["eval_batch_size"]
    inputs = FileImages(x, device=device) if on_file(x) else torch.from_numpy(x).to(device)
    outputs = predict(model, inputs, batch_size).cpu()
    separator = separator_of(saved["config"]["dataset"].get("label_separator")) or " "
    table = with_predictions(table, outputs, Task(saved["model_spec"]["task"]),
                             saved["class_names"], saved.get("threshold") or 0.5, separator)
    target = Path(cfg.output).expanduser() if cfg.output else run_dir / PREDICTIONS
    if target.is_dir():  # output=FOLDER: the file goes inside it
        target = target / PREDICTIONS
    write_atomically(target, table.to_csv(index=False).encode())
    log.info(f"{len(table)} predictions of {saved['path']} for {cfg.input} -> {target}")
    return target


def model_inputs(saved: Dict[str, Any], source: str) -> Tuple[np.ndarray, Any]:
    """The model's raw inputs for ``source``, and the table its predictions are added to."""
    import pandas as pd

    shape = tuple(saved["model_spec"]["input_shape"])
    if image_data(shape):
        paths = image_paths(Path(source).expanduser())
        channels, height, width = shape
        # Many pictures share the training's decoded file where they are its (and one too
        # large for memory is read from it, data/file_images.py); a few are not worth a file.
        images, kept = decode_images(paths, channels, (width, height), False, f"input={source}",
                                     fix="Remove them from the input, or name the good ones",
                                     cache=len(paths) > CHUNK,
                                     resize=resize_rule(saved["config"]["dataset"]))
        return images, pd.DataFrame({"path": [str(paths[index]) for index in kept]})
    if not saved.get("encoding"):
        raise CheckpointError(f"{saved['path']} does not record its input columns (trained "
                              f"before nnrecipes recorded them); train it again to predict")
    encoding = TableEncoding.from_dict(saved["encoding"])
    frame = read_table(source, "input", encoding.delimiter, text_columns=encoding.categories,
                       sniff=True)
    _say_empty_rows(frame, encoding.features, source)
    return encoding.transform(frame, f"input={source}", training=False), frame


def _say_empty_rows(frame, features, source: str) -> None:
    """Rows with no value in any column the model reads are predicted from the training
    split's fill values alone: said, with the rows."""
    present = [column for column in features if column in frame.columns]
    empty = np.flatnonzero(frame[present].isna().all(axis=1).to_numpy()) if present else []
    if len(empty):
        shown = ", ".join(str(row + 1) for row in empty[:5]) + (", ..." if len(empty) > 5 else "")
        log.warning(f"input={source}: {len(empty)} row{'s' * (len(empty) > 1)} (data row "
                    f"{shown}) hold{'s' * (len(empty) == 1)} no value in any column the model "
                    f"reads; their predictions come from the training split's fill values alone")


def image_paths(source: Path):
    """An image file, or every image file under a folder (sorted; hidden files left out)."""
    if not source.exists():
        raise ConfigError(f"input={source}: no such file or folder")
    if source.is_file():
        return [source]
    files = sorted(path for path in source.rglob("*")
                   if path.is_file() and not path.name.startswith("."))
    paths = [path for path in files if path.suffix.lower() in IMAGE_SUFFIXES]
    if not paths:
        raise ConfigError(f"input={source} holds no image files "
                          f"({', '.join(IMAGE_SUFFIXES)})")
    if len(paths) < len(files):
        log.info(f"input={source}: {len(files) - len(paths)} files that are not images (by "
                 f"their suffix) left out")
    return paths


def with_predictions(table, outputs: torch.Tensor, task: Task, class_names,
                     threshold: float = 0.5, separator: str = " "):
    """``table`` with the predicted class (binary: the positive one from ``threshold``, the
    checkpoint's; multilabel: each class of probability 0.5 or more, joined by ``separator``,
    the training labels') and each class's probability, or the value."""
    table = table.copy()
    if not task.classification:
        table[_free(table, "predicted")] = outputs.squeeze(-1).numpy()
        return table
    each = probabilities(task, outputs)
    labels = predicted_labels(task, outputs, threshold).tolist()
    table[_free(table, "predicted")] = [
        separator.join(name for name, chosen in zip(class_names, row) if chosen)
        if task is Task.multilabel else class_names[row] for row in labels]
    for index, name in enumerate(class_names):
        table[_free(table, f"probability_{name}")] = each[:, index].numpy()
    return table


def _free(table, name: str) -> str:
    """``name`` for a new column of ``table``, or ``name_2``, ``name_3``, ... where the input
    already has a column of that name (kept as it is; said in the log)."""
    if name not in table.columns:
        return name
    number = 2
    while f"{name}_{number}" in table.columns:
        number += 1
    log.warning(f"the input has a column {name} already: kept as it is, the prediction goes "
                f"into {name}_{number}")
    return f"{name}_{number}"
