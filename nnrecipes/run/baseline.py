"""scikit-learn models on the very same split as the network, so a run shows whether the network
earns its keep: a linear model (the classic baseline) and histogram gradient boosting (the strong
reference)."""

from __future__ import annotations

import copy
import hashlib
import logging
from typing import Dict, Optional, Tuple

import numpy as np

from nnrecipes.core.task import Task, score_headline
from nnrecipes.data.file_images import FileImages

log = logging.getLogger("nnrecipes")


def _features(x, stats) -> np.ndarray:
    """Flattened features, standardised with the training split's statistics."""
    standardised = (x.float().cpu() - stats["input_mean"]) / stats["input_std"]
    return standardised.reshape(len(standardised), -1).numpy()


# The jobs of a sweep share their split, so the baselines are the same for all of them: fitted
# once per process (a sequential sweep is one process), keyed by the split's bytes and the seed.
_SCORED: Dict[Tuple[str, int], Dict[str, Dict[str, float]]] = {}


def baseline_scores(data, seed: int) -> Optional[Dict[str, Dict[str, Dict[str, float]]]]:
    """Scores of the baselines trained on ``data.train``: {"test": {model: {metric: value}},
    "val": ...}, on the test and the validation split (a fold, in cross-validation)."""
    if data.task.classification and not data.task.one_label:
        log.info(f"trainer.baseline: scikit-learn's baselines score one class a sample; none "
                 f"for a {data.task} task")
        return None
    if isinstance(data.train.x, FileImages):
        log.info("trainer.baseline: scikit-learn's baselines need the pictures in memory; "
                 "these are read from their decoded file, so none")
        return None
    x_train, y_train = _features(data.train.x, data.stats), data.train.y.cpu().numpy()
    scored = {name: (_features(split.x, data.stats), split.y.cpu().numpy())
              for name, split in (("test", data.test), ("val", data.val))}
    digest = hashlib.blake2b(data.task.value.encode(), digest_size=16)
    for array in (x_train, y_train, *(array for pair in scored.values() for array in pair)):
        digest.update(np.ascontiguousarray(array).tobytes())
    key = (digest.hexdigest(), seed)
    if key not in _SCORED:
        if len(_SCORED) >= 8:  # a long search over data settings must not hoard them
            _SCORED.clear()
        _SCORED[key] = _fit_and_score(data.task, seed, x_train, y_train, scored)
    return copy.deepcopy(_SCORED[key])


def baseline_models(task: Task, seed: int) -> Dict[str, object]:
    """The baselines, unfitted: what scikit-learn's cross_val_score of them is compared with.
    Imported here: a run that scores no baseline (images, sweeps' other jobs) never loads
    scikit-learn's ensembles."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    if not task.classification:
        return {"ridge": Ridge(),
                "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed)}
    return {"logistic_regression": LogisticRegression(max_iter=2000),
            "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed)}


def _fit_and_score(task: Task, seed: int, x_train: np.ndarray, y_train: np.ndarray,
                   scored: Dict[str, Tuple[np.ndarray, np.ndarray]]
                   ) -> Dict[str, Dict[str, Dict[str, float]]]:
    scores: Dict[str, Dict[str, Dict[str, float]]] = {split: {} for split in scored}
    for name, model in baseline_models(task, seed).items():
        model.fit(x_train, y_train)
        for split, (x, y) in scored.items():
            metric, value = score_headline(task, y, model.predict(x))
            scores[split][name] = {metric: value}
    return scores
