"""What a task means for the loss, the predictions and the metrics.

Each data set declares its task: ``regression``, ``binary`` or ``multiclass``. Everything that
depends on it is decided here, so the training loop itself never branches on the task.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, Dict

import numpy as np
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSS_LIKE = {"loss", "mse", "rmse", "mae"}
TASK_METRICS = {
    "regression": ("mse", "rmse", "mae", "r2"),
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "f1_macro"),
}


def default_monitor(task: str) -> str:
    return "loss" if task == "regression" else "accuracy"


def minimised(metric: str) -> bool:
    return metric in LOSS_LIKE


def _relative_mse(outputs: torch.Tensor, targets: torch.Tensor, variance: float) -> torch.Tensor:
    return F.mse_loss(outputs.squeeze(-1), targets) / variance


def _binary_bce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(outputs.squeeze(-1), targets.float())


def make_loss(task: str, stats: Dict[str, torch.Tensor], label_smoothing: float = 0.0) -> LossFn:
    if task == "multiclass":
        return partial(F.cross_entropy, label_smoothing=label_smoothing)
    if task == "binary":
        return _binary_bce
    # Dividing by the training targets' variance makes the loss scale-free (about 1 - R²), so
    # one learning rate suits house prices and disease scores alike.
    return partial(_relative_mse, variance=float(stats["target_std"]) ** 2)


def predicted_labels(task: str, outputs: torch.Tensor) -> torch.Tensor:
    """Class indices from classification outputs (logits)."""
    if task == "multiclass":
        return outputs.argmax(dim=1)
    return (outputs.squeeze(-1) >= 0).long()  # logit 0 is probability 0.5


def compute_metrics(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> Dict[str, float]:
    """Task metrics from a whole split's model outputs (any device) and targets."""
    outputs = outputs.detach().float().cpu()
    y = targets.detach().cpu().numpy()
    if task == "multiclass":
        pred = predicted_labels(task, outputs).numpy()
        return {"accuracy": skm.accuracy_score(y, pred),
                "f1_macro": skm.f1_score(y, pred, average="macro", zero_division=0)}
    if task == "binary":
        scores = torch.sigmoid(outputs.squeeze(-1)).numpy()
        pred = predicted_labels(task, outputs).numpy()
        both_classes = len(np.unique(y)) == 2
        return {"accuracy": skm.accuracy_score(y, pred),
                "precision": skm.precision_score(y, pred, zero_division=0),
                "recall": skm.recall_score(y, pred, zero_division=0),
                "f1": skm.f1_score(y, pred, zero_division=0),
                "roc_auc": skm.roc_auc_score(y, scores) if both_classes else math.nan}
    pred = outputs.squeeze(-1).numpy()
    mse = skm.mean_squared_error(y, pred)
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": skm.mean_absolute_error(y, pred),
            "r2": skm.r2_score(y, pred) if len(y) > 1 else math.nan}
