"""scikit-learn models on the very same split as the network, so a run shows whether the network
earns its keep: a linear model (the classic baseline) and histogram gradient boosting (the strong
reference)."""

from __future__ import annotations

from typing import Dict

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from nnrecipes.tasks import score_headline


def _features(x, stats) -> np.ndarray:
    """Flattened features, standardised with the training split's statistics."""
    standardised = (x.float().cpu() - stats["input_mean"]) / stats["input_std"]
    return standardised.reshape(len(standardised), -1).numpy()


def baseline_scores(data, seed: int) -> Dict[str, Dict[str, float]]:
    """Test scores of the baselines, trained on ``data.train`` and scored on ``data.test``."""
    x_train, x_test = _features(data.train.x, data.stats), _features(data.test.x, data.stats)
    y_train, y_test = data.train.y.cpu().numpy(), data.test.y.cpu().numpy()
    if data.task == "regression":
        models = {"ridge": Ridge(),
                  "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed)}
    else:
        models = {"logistic_regression": LogisticRegression(max_iter=2000),
                  "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed)}
    scores = {}
    for name, model in models.items():
        predicted = model.fit(x_train, y_train).predict(x_test)
        metric, value = score_headline(data.task, y_test, predicted)
        scores[name] = {metric: value}
    return scores
