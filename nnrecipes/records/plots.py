"""PNG figures of a run and of a sweep, drawn with matplotlib's non-interactive backend."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: never open a window, work without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nnrecipes.core.task import Task, headline_metric  # noqa: E402
from nnrecipes.records.checkpoint import write_atomically  # noqa: E402


def _legend(axis, **options) -> None:
    """A legend where the axis has labelled lines (matplotlib warns of an empty one)."""
    if axis.get_legend_handles_labels()[0]:
        axis.legend(**options)


def _save(figure, path: Path, bottom: float = 0.0) -> Path:
    """Atomically, like every run file: a full disk leaves no half figure, and names the file.
    ``bottom``: the share of the figure's height kept free for a note under the axes."""
    figure.tight_layout(rect=(0, bottom, 1, 1))
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, dpi=110, format="png")
    finally:
        plt.close(figure)
    write_atomically(path, buffer.getvalue())
    return path


def curves(history: List[Dict[str, float]], task: Task, path: Path,
           harder_in_training: str = "") -> Path:
    """Training and validation loss, and the main validation metric, over the epochs;
    ``harder_in_training`` says why the training loss is higher by design."""
    epochs = [row["epoch"] for row in history]
    metric = headline_metric(task)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    if harder_in_training:
        figure.text(0.01, 0.01, f"training loss with {harder_in_training}: above the "
                                f"validation loss by design", fontsize=8, color="dimgray")
    left.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    left.set(title="Loss", xlabel="epoch", ylabel="loss")
    _legend(left)
    right.plot(epochs, [row[f"val_{metric}"] for row in history], marker="o", color="tab:green")
    right.set(title=f"Validation {metric}", xlabel="epoch", ylabel=metric)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    return _save(figure, path, bottom=0.04 if harder_in_training else 0.0)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
              path: Path) -> Path:
    """Confusion matrix normalised over each true class, labelled with the class names."""
    count = len(class_names)
    matrix = np.zeros((count, count))
    np.add.at(matrix, (y_true, y_pred), 1)
    matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.6 * count + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis)
    axis.set(xticks=range(count), yticks=range(count), xticklabels=class_names,
             yticklabels=class_names, xlabel="predicted", ylabel="true",
             title="Normalised confusion matrix (test)")
    plt.setp(axis.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    for row in range(count):
        for col in range(count):
            axis.text(col, row, f"{matrix[row, col]:.2f}", ha="center", va="center", fontsize=8,
                      color="white" if matrix[row, col] > 0.5 else "black")
    return _save(figure, path)


def prediction_grid(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                    class_names: Sequence[str], path: Path, count: int = 24) -> Path:
    """Test images with predicted and true labels; mistakes in red."""
    count = min(count, len(images))
    columns = 6
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 2.3 * rows))
    for index, axis in enumerate(np.atleast_1d(axes).ravel()):
        axis.axis("off")
        if index >= count:
            continue
        axis.imshow(images[index].transpose(1, 2, 0).squeeze(), cmap="gray")
        right = y_true[index] == y_pred[index]
        axis.set_title(f"{class_names[y_pred[index]]}\n(true: {class_names[y_true[index]]})",
                       fontsize=8, color="black" if right else "red")
    figure.suptitle("Test predictions (red: wrong)")
    return _save(figure, path)


def regression(y_true: np.ndarray, y_pred: np.ndarray, path: Path) -> Path:
    """Predicted against true values, and the residuals against the predictions."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(y_true, y_pred, s=6, alpha=0.5)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    left.plot([low, high], [low, high], color="red", linewidth=1, label="perfect")
    left.set(title="Predicted vs true (test)", xlabel="true", ylabel="predicted")
    _legend(left)
    right.scatter(y_pred, y_true - y_pred, s=6, alpha=0.5)
    right.axhline(0, color="red", linewidth=1)
    right.set(title="Residuals (test)", xlabel="predicted", ylabel="true - predicted")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    return _save(figure, path)


def sweep_lr_batch(points: List[Dict[str, float]], metric: str, folder: Path) -> List[Path]:
    """The metric against learning rate, one line per batch size, and the lr x batch heat-map.

    ``points``: dicts with ``lr``, ``batch_size`` and ``value`` (completed jobs).
    """
    lrs = sorted({point["lr"] for point in points})
    batches = sorted({point["batch_size"] for point in points})
    grid = np.full((len(batches), len(lrs)), np.nan)
    for point in points:
        grid[batches.index(point["batch_size"]), lrs.index(point["lr"])] = point["value"]
    figure, axis = plt.subplots(figsize=(6, 4))
    for row, batch in enumerate(batches):
        axis.plot(lrs, grid[row], marker="o", label=f"batch {batch}")
    axis.set(xscale="log", xlabel="learning rate", ylabel=metric, title=f"{metric} by learning rate")
    axis.grid(alpha=0.3)
    _legend(axis)
    line = _save(figure, folder / "sweep_lr.png")
    figure, axis = plt.subplots(figsize=(1.5 * len(lrs) + 2, 1.0 * len(batches) + 2))
    image = axis.imshow(grid, cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=axis, label=metric)
    axis.set(xticks=range(len(lrs)), yticks=range(len(batches)), xlabel="learning rate",
             ylabel="batch size", title=f"{metric}: learning rate x batch size",
             xticklabels=[f"{lr:g}" for lr in lrs], yticklabels=[str(b) for b in batches])
    for row in range(len(batches)):
        for col in range(len(lrs)):
            if not np.isnan(grid[row, col]):
                axis.text(col, row, f"{grid[row, col]:.3f}", ha="center", va="center",
                          color="white", fontsize=9)
    return [line, _save(figure, folder / "sweep_heatmap.png")]


def compare_curves(histories: Dict[str, List[Dict[str, float]]], metric: Optional[str],
                   path: Path) -> Path:
    """Validation loss (and metric) of several runs on shared axes."""
    figure, axes = plt.subplots(1, 2 if metric else 1, figsize=(11 if metric else 6, 4))
    axes = np.atleast_1d(axes)
    for name, history in histories.items():
        epochs = [row["epoch"] for row in history]
        axes[0].plot(epochs, [row["val_loss"] for row in history], marker=".", label=name)
        if metric:
            axes[1].plot(epochs, [row.get(f"val_{metric}", np.nan) for row in history],
                         marker=".", label=name)
    axes[0].set(title="Validation loss", xlabel="epoch", ylabel="loss")
    if metric:
        axes[1].set(title=f"Validation {metric}", xlabel="epoch", ylabel=metric)
    for axis in axes:
        axis.grid(alpha=0.3)
        _legend(axis, fontsize=7)
    return _save(figure, path)


def lr_range(rates: Sequence[float], losses: Sequence[float], suggested: Optional[float],
             path: Path) -> Path:
    """The learning-rate range test: smoothed training loss against the rate (log scale)."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(rates, losses)
    if suggested is not None:
        axis.axvline(suggested, color="tab:red", linestyle="--",
                     label=f"suggested {suggested:.3g}")
        _legend(axis)
    axis.set(xscale="log", title="Learning-rate range test", xlabel="learning rate",
             ylabel="training loss (smoothed)")
    axis.grid(alpha=0.3)
    return _save(figure, path)
