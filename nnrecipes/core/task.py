"""The task, ``Task``: regression, binary, multiclass or multilabel, and everything it decides.

Each data set declares its task (a table's target decides it when loaded). The loss, the number
of outputs, what an output means, the predicted labels, the metrics, which metric a task is
judged by and which way is better: all are decided here, so no other module branches on the
task's name. Each metric is declared once in ``METRICS``, with the tasks it scores, its direction
and whether it is the task's headline; the validation columns, ``trainer.monitor``'s choices,
the best epoch, sweep rankings, the Optuna direction, the figures and the baselines follow.

torch is imported only by the functions that take tensors, so that composing a config (which
reads the task choices) and ranking a sweep stay light.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from nnrecipes.core.config import ConfigError
from nnrecipes.core.target_transform import TargetTransform

log = logging.getLogger("nnrecipes")


class Task(str, Enum):
    regression = "regression"
    binary = "binary"
    multiclass = "multiclass"
    # Any number of the classes per sample (a labels CSV with dataset.label_separator): one
    # logit per class, each class's probability on its own (a sigmoid), targets multi-hot.
    multilabel = "multilabel"

    def __str__(self) -> str:  # the value, as YAML, JSON and messages show it
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def classification(self) -> bool:
        return self is not Task.regression

    @property
    def one_label(self) -> bool:
        """Each sample is exactly one class: splits are stratified by it, a confusion matrix
        and class counts mean something."""
        return self in (Task.binary, Task.multiclass)

    @property
    def thresholded(self) -> bool:
        """Whether a decision threshold turns its outputs into labels (trainer.threshold)."""
        return self is Task.binary

    @classmethod
    def of_classes(cls, count: int) -> "Task":
        """The classification task for ``count`` classes."""
        return cls.binary if count == 2 else cls.multiclass

    def outputs(self, classes: int) -> int:
        """The model's outputs: one logit per class for multiclass, else one."""
        return classes if self in (Task.multiclass, Task.multilabel) else 1

    @property
    def output_meaning(self) -> str:
        return {Task.regression: "one value, in the target's units",
                Task.binary: "one logit: sigmoid(logit) is the probability of class_names[1]",
                Task.multiclass: "one logit per class: softmax gives the probabilities",
                Task.multilabel: "one logit per class: sigmoid(logit) is that class's "
                                 "probability, each class on its own"}[self]


# What a data set's task setting may say: a task, or "auto" (the data decides when loaded).
AUTO = "auto"
# What a data set's task setting may name; multilabel comes from a labels CSV's separator.
TASK_NAMES = tuple(task.value for task in Task if task is not Task.multilabel)
TASK_CHOICES = (AUTO, *TASK_NAMES)


def _sklearn(name: str, **options) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """scikit-learn's metric ``name`` of (targets, predictions), imported when first computed:
    the declarations below are also read where nothing is scored (a sweep's parent process
    ranking its jobs), and importing scikit-learn costs about 2 s."""
    def compute(y: np.ndarray, pred: np.ndarray, scores: np.ndarray) -> float:
        from sklearn import metrics

        return getattr(metrics, name)(y, pred, **options)

    return compute


LossFn = Callable[[Any, Any], Any]  # (outputs, targets) -> loss, tensors
CLASSIFICATION = (Task.binary, Task.multiclass)  # one label per sample
MULTILABEL = (Task.multilabel,)
VALIDATION_PREFIX = "val_"


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: Tuple[Task, ...]
    # (targets, predictions, scores) -> value; predictions are labels or values, scores are the
    # positive class's probabilities (binary), or each class's (multilabel: rows x classes).
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
    minimised: bool = False
    headline: bool = False  # the one number a task's runs are judged and compared by


_roc_auc_score = _sklearn("roc_auc_score")
_mse = _sklearn("mean_squared_error")
_r2 = _sklearn("r2_score")


def _roc_auc(y, pred, scores) -> float:
    return _roc_auc_score(y, scores, None) if len(np.unique(y)) == 2 else math.nan


_average_precision_score = _sklearn("average_precision_score")


def _each_class_scored(name: str, **options):
    """A multilabel metric of each class's probabilities: NaN where a class is in every row
    of the split or in none (no ranking to score)."""
    compute = _sklearn(name, **options)

    def scored(y, pred, scores) -> float:
        present = y.sum(axis=0)
        if ((present == 0) | (present == len(y))).any():
            return math.nan
        return compute(y, scores, None)

    return scored


def _average_precision(y, pred, scores) -> float:
    return _average_precision_score(y, scores, None) if len(np.unique(y)) == 2 else math.nan


METRICS = (
    Metric("accuracy", CLASSIFICATION, _sklearn("accuracy_score"), headline=True),
    Metric("balanced_accuracy", CLASSIFICATION, _sklearn("balanced_accuracy_score")),
    Metric("precision", (Task.binary,), _sklearn("precision_score", zero_division=0)),
    Metric("recall", (Task.binary,), _sklearn("recall_score", zero_division=0)),
    Metric("f1", (Task.binary,), _sklearn("f1_score", zero_division=0)),
    Metric("roc_auc", (Task.binary,), _roc_auc),
    Metric("average_precision", (Task.binary,), _average_precision),
    Metric("f1_macro", (Task.multiclass, Task.multilabel),
           _sklearn("f1_score", average="macro", zero_division=0)),
    # multilabel: scikit-learn's on the multi-hot targets, labels at probability 0.5
    Metric("average_precision_macro", MULTILABEL,
           _each_class_scored("average_precision_score", average="macro"), headline=True),
    Metric("roc_auc_macro", MULTILABEL, _each_class_scored("roc_auc_score", average="macro")),
    Metric("f1_micro", MULTILABEL, _sklearn("f1_score", average="micro", zero_division=0)),
    Metric("f1_samples", MULTILABEL, _sklearn("f1_score", average="samples", zero_division=0)),
    Metric("subset_accuracy", MULTILABEL, _sklearn("accuracy_score")),
    Metric("hamming_loss", MULTILABEL, _sklearn("hamming_loss"), minimised=True),
    Metric("mse", (Task.regression,), _mse, minimised=True),
    Metric("rmse", (Task.regression,), lambda y, p, s: math.sqrt(_mse(y, p, s)), minimised=True),
    Metric("mae", (Task.regression,), _sklearn("mean_absolute_error"), minimised=True),
    Metric("r2", (Task.regression,), lambda y, p, s: _r2(y, p, s) if len(y) > 1 else math.nan,
           headline=True),
)
# The loss is computed by the engine for every task; it is minimised like the error metrics.
LOSS = Metric("loss", tuple(Task), lambda y, p, s: math.nan, minimised=True)
_BY_NAME = {metric.name: metric for metric in (LOSS, *METRICS)}


def task_metrics(task: Task) -> Tuple[str, ...]:
    task = Task(task)  # a Task, or its name read from a file
    return tuple(metric.name for metric in METRICS if task in metric.tasks)


def headline_metric(task: Task) -> str:
    task = Task(task)
    return next(metric.name for metric in METRICS if task in metric.tasks and metric.headline)


def minimised(metric: str) -> bool:
    """Lower is better for ``metric`` (its name, with or without the validation prefix)."""
    return _BY_NAME[metric.removeprefix(VALIDATION_PREFIX)].minimised


@dataclass(frozen=True)
class Monitor:
    """The validation metric that picks the best epoch, stops early and ranks runs."""

    metric: str

    @property
    def column(self) -> str:
        return f"{VALIDATION_PREFIX}{self.metric}"

    @property
    def minimised(self) -> bool:
        return minimised(self.metric)

    @classmethod
    def from_column(cls, column: str) -> "Monitor":
        return cls(column.removeprefix(VALIDATION_PREFIX))


def monitored(setting: str, task: Task) -> Monitor:
    """``trainer.monitor`` for ``task``: auto is the loss for regression, else the headline."""
    task = Task(task)
    if setting == "auto":
        return Monitor("loss" if task is Task.regression else headline_metric(task))
    allowed = ("loss", *task_metrics(task))
    if setting not in allowed:
        raise ConfigError(f"trainer.monitor={setting!r} is not a {task} metric; "
                          f"allowed: auto, {', '.join(allowed)}")
    return Monitor(setting)


def score_headline(task: Task, y: np.ndarray, pred: np.ndarray) -> Tuple[str, float]:
    """The task's headline metric of predicted labels or values (for the baselines)."""
    name = headline_metric(task)
    return name, float(_BY_NAME[name].compute(y, pred, None))


def _relative_mse(outputs, targets, std: float, transform: TargetTransform):
    # The errors are scaled before they are squared: the squares of large targets' errors
    # (1e20 and more) overflow float32. Both sides in the space the targets are learnt in.
    errors = transform.forward(outputs.squeeze(-1)) - transform.forward(targets)
    return (errors / std).square().mean()


def _binary_bce(outputs, targets, pos_weight: Optional[float] = None):
    import torch
    import torch.nn.functional as F

    weight = None if pos_weight is None else torch.tensor(pos_weight, device=outputs.device)
    return F.binary_cross_entropy_with_logits(outputs.squeeze(-1), targets.float(),
                                              pos_weight=weight)


def _multilabel_bce(outputs, targets):
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(outputs, targets.to(outputs.dtype))


def _cross_entropy(outputs, targets, label_smoothing: float, weights: Optional[List[float]]):
    import torch
    import torch.nn.functional as F

    weight = None if weights is None else torch.tensor(weights, device=outputs.device,
                                                       dtype=outputs.dtype)
    return F.cross_entropy(outputs, targets, weight=weight, label_smoothing=label_smoothing)


def make_loss(task: Task, stats: Dict[str, Any], label_smoothing: float = 0.0,
              model: str = "the model", weights: Optional[List[float]] = None) -> LossFn:
    """The task's loss of (outputs, targets); ``model`` names the model in its messages;
    ``weights``: one per class (binary: the positive class's weight over the negative's is
    BCE's pos_weight)."""
    task = Task(task)
    if task is Task.multiclass:
        loss = partial(_cross_entropy, label_smoothing=label_smoothing, weights=weights)
    elif task is Task.multilabel:
        loss = _multilabel_bce
    elif task is Task.binary:
        loss = partial(_binary_bce, pos_weight=None if weights is None
                       else weights[1] / weights[0])
    else:
        # Dividing by the training targets' variance makes the loss scale-free (about 1 - R²),
        # so one learning rate suits house prices and disease scores alike.
        loss = partial(_relative_mse, std=float(stats["target_std"]),
                       transform=TargetTransform(stats.get("target_transform", "none")))
    return partial(_each_member, loss, model)


class ModelOutputError(ConfigError):
    """A model returned something other than one tensor in training (a user's own model)."""


def _each_member(loss: LossFn, model: str, outputs, targets):
    """An ensemble in training returns (batch, members, outputs): each member is scored against
    the targets, and the losses averaged (models.mlp.MLPEnsemble)."""
    import torch

    if not isinstance(outputs, torch.Tensor):  # evaluation mode was checked before training
        raise ModelOutputError(f"{model} returned a {type(outputs).__name__} in training mode; "
                               f"forward must return one tensor, in training as in evaluation")
    if outputs.dim() == 3:
        members = outputs.shape[1]
        return loss(outputs.flatten(0, 1), targets.repeat_interleave(members, dim=0))
    return loss(outputs, targets)


def predicted_labels(task: Task, outputs, threshold: float = 0.5):
    """Class indices from classification outputs (logits); binary: the positive class where
    its probability is at least ``threshold``."""
    task = Task(task)
    if task is Task.multiclass:
        return outputs.argmax(dim=1)
    if task is Task.multilabel:  # each class where its probability is at least one half
        return (outputs >= 0).long()
    return (outputs.squeeze(-1) >= logit(threshold)).long()  # logit 0 is probability 0.5


def logit(probability: float) -> float:
    return math.log(probability / (1 - probability))


def probabilities(task: Task, outputs):
    """Each class's probability from classification outputs, (rows, classes)."""
    import torch

    task = Task(task)

    if task is Task.binary:
        positive = torch.sigmoid(outputs.squeeze(-1))
        return torch.stack([1 - positive, positive], dim=1)
    if task is Task.multilabel:
        return torch.sigmoid(outputs)
    return torch.softmax(outputs, dim=1)


def averaged_outputs(task: Task, outputs):
    """Several models' outputs for the same rows, (models, rows, ...), as one model's: the mean
    of their probabilities (classification, back as logits) or of their values (regression)."""
    import torch

    task = Task(task)
    if task is Task.regression:
        return outputs.mean(dim=0)
    if task in (Task.binary, Task.multilabel):
        probability = outputs.sigmoid().mean(dim=0).clamp(1e-7, 1 - 1e-7)
        return torch.log(probability / (1 - probability))
    return torch.log(outputs.softmax(dim=-1).mean(dim=0).clamp_min(1e-12))


def compute_metrics(task: Task, outputs, targets, threshold: float = 0.5) -> Dict[str, float]:
    """Task metrics from a whole split's model outputs (any device) and targets; binary labels
    at ``threshold``."""
    task = Task(task)
    outputs = outputs.detach().float().cpu()
    y = targets.detach().cpu().numpy()
    if task is Task.regression:  # in float64: large targets' squared errors overflow float32
        y, pred, scores = y.astype(np.float64), outputs.squeeze(-1).double().numpy(), None
    elif task is Task.multilabel:
        y = y.astype(np.int64)
        pred, scores = predicted_labels(task, outputs).numpy(), outputs.sigmoid().numpy()
    else:
        pred = predicted_labels(task, outputs, threshold).numpy()
        scores = outputs.squeeze(-1).sigmoid().numpy() if task is Task.binary else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = {metric.name: metric.compute(y, pred, scores)
                  for metric in METRICS if task in metric.tasks}
    _say_once(caught, len(y))
    return scores


_said: set = set()  # what the metrics' warnings were said as, once per run


def new_run() -> None:
    """A run begins: its log says each of the metrics' warnings once again."""
    _said.clear()


def _say_once(caught, rows: int) -> None:
    """scikit-learn's warnings on a small split, each said once as what it means here, instead
    of printed with its source line at every epoch."""
    for item in caught:
        text = str(item.message).splitlines()[0]
        if "single label" in text or "classes not in y_true" in text:
            meaning = (f"a split of {rows} rows holds too few of the classes: its balanced "
                       f"accuracy and F1 say little (a larger dataset.val_size scores better)")
        else:
            meaning = f"scoring {rows} rows: {text}"
        if meaning not in _said:
            _said.add(meaning)
            log.warning(meaning)


def task_of(value: Optional[str]) -> Optional[Task]:
    """A task from its name (a checkpoint's, a summary's); None stays None."""
    return None if value is None else Task(value)
