"""What a finished run leaves besides its metrics: figures, baselines, the model's summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from nnrecipes.core.task import predicted_labels
from nnrecipes.data import image_data
from nnrecipes.records.checkpoint import write_atomically

log = logging.getLogger("nnrecipes")


def write_model_summary(model: torch.nn.Module, sample: torch.Tensor, run_dir: Path) -> str:
    from nnrecipes.components.models import layer_table

    text = layer_table(model, sample)
    # The first file of a new run: write_atomically makes the folder when no launcher did.
    write_atomically(Path(run_dir) / "model.txt", (text + "\n").encode())
    return text


def write_run_plots(run_dir: Path, data, history: Sequence[Dict[str, float]],
                    outputs: torch.Tensor, threshold: float = 0.5,
                    harder_in_training: str = "") -> List[Path]:
    """Loss and metric curves (``harder_in_training``: why the training loss is above the
    validation loss by design, said on the figure); confusion matrix and prediction grid
    (binary labels at ``threshold``), or regression scatter."""
    from nnrecipes.records import plots

    run_dir = Path(run_dir)
    written = [plots.curves(list(history), data.task, run_dir / "curves.png",
                            harder_in_training)]
    y_true = data.test.y.cpu().numpy()
    if not data.task.classification:
        y_pred = outputs.squeeze(-1).float().cpu().numpy()
        written.append(plots.regression(y_true, y_pred, run_dir / "regression.png"))
        return written
    if not data.task.one_label:  # no confusion between classes that a sample may all have
        return written
    y_pred = predicted_labels(data.task, outputs, threshold).cpu().numpy()
    written.append(plots.confusion(y_true, y_pred, data.class_names,
                                   run_dir / "confusion_matrix.png"))
    if image_data(data.input_shape):
        written.append(plots.prediction_grid(data.test.x[:24].cpu().numpy(), y_true[:24],
                                             y_pred[:24], data.class_names,
                                             run_dir / "predictions.png"))
    return written


def wants_figures(setting: Optional[bool], job_of_a_sweep: bool) -> bool:
    """``trainer.plots``: unset, a single run draws its figures and a sweep's job does not."""
    return setting if setting is not None else not job_of_a_sweep


def wants_baseline(setting: str, image_data: bool) -> bool:
    return setting == "on" or (setting == "auto" and not image_data)
