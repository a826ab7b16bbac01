"""What imbalanced classes change: the classes' weights in the training loss
(``trainer.class_weight``) and a binary decision threshold tuned on validation rows
(``trainer.threshold=tuned``)."""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from nnrecipes.core.config import ConfigError
from nnrecipes.core.task import Task


def class_weights(setting: Any, task: Task, labels: np.ndarray,
                  class_names: List[str]) -> Optional[List[float]]:
    """trainer.class_weight as one weight per class (None: unweighted); ``balanced`` from the
    training split's ``labels``: rows / (classes x the class's rows)."""
    if setting == "none":
        return None
    if not Task(task).classification:
        raise ConfigError(f"trainer.class_weight={setting} weighs classes; a {task} task has "
                          f"none (use trainer.class_weight=none)")
    if not Task(task).one_label:
        raise ConfigError(f"trainer.class_weight={setting} weighs each sample's one class; a "
                          f"{task} task's samples have several (use trainer.class_weight=none)")
    classes = len(class_names)
    if setting == "balanced":
        counts = np.bincount(np.asarray(labels), minlength=classes)
        return [len(labels) / (classes * count) if count else 0.0 for count in counts]
    if len(setting) != classes:
        raise ConfigError(f"trainer.class_weight has {len(setting)} weights for {classes} "
                          f"classes ({', '.join(class_names)}): give one per class")
    return [float(weight) for weight in setting]


def tuned_threshold(outputs, targets) -> float:
    """The binary threshold that maximises balanced accuracy on (outputs, targets): the
    midpoint between two neighbouring probabilities, so it does not hang on one row's value."""
    from sklearn.metrics import balanced_accuracy_score

    probability = outputs.detach().float().cpu().squeeze(-1).sigmoid().numpy().astype(np.float64)
    y = targets.detach().cpu().numpy()
    values = np.unique(probability)
    candidates = np.concatenate([[0.5], (values[1:] + values[:-1]) / 2])
    candidates = candidates[(candidates > 0) & (candidates < 1)]
    scores = [balanced_accuracy_score(y, (probability >= value).astype(int))
              for value in candidates]
    return float(candidates[int(np.argmax(scores))])
