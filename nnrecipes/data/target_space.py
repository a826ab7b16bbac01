"""Which space a regression target is learnt in (core/target_transform.py), decided on the
training and validation splits when ``dataset.target_transform=auto``: log1p where the training
targets are positive and skewed *and* a quick gradient boosting, fit on the training split in
both spaces, scores the validation split better in log space (R² in the targets' own units).
Each decision is a log line naming the key that overrides it."""

from __future__ import annotations

import logging

import numpy as np

from nnrecipes.core.target_transform import TargetTransform

log = logging.getLogger("nnrecipes")
SKEWED = 1.0  # skewness beyond which a positive target is a candidate for log1p
PROXY_ROUNDS = 50  # boosting rounds of the quick model that compares the two spaces


def target_space(setting: str, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                 y_val: np.ndarray, seed: int) -> TargetTransform:
    if setting != "auto":
        return TargetTransform(setting)
    y_train = np.asarray(y_train, dtype=np.float64)
    if len(y_val) < 2 or y_train.min() < 0 or y_train.std() == 0:
        return TargetTransform.none
    skewness = float(np.mean(((y_train - y_train.mean()) / y_train.std()) ** 3))
    if skewness <= SKEWED:
        return TargetTransform.none
    plain, logged = (_validation_r2(x_train, y_train, x_val, y_val, seed, logged)
                     for logged in (False, True))
    chosen = TargetTransform.log1p if logged > plain else TargetTransform.none
    log.info(f"target: skewed (skewness {skewness:.1f}), learnt "
             f"{'in log space, log1p(target),' if logged > plain else 'as it is'} since a "
             f"quick gradient boosting scores the validation split "
             f"{'better' if logged > plain else 'no better'} so (R² {logged:.4f} against "
             f"{plain:.4f}); metrics and predictions are in the target's units. "
             f"dataset.target_transform={'none' if logged > plain else 'log1p'} to choose "
             f"otherwise")
    return chosen


def _validation_r2(x_train, y_train, x_val, y_val, seed: int, logged: bool) -> float:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    model = HistGradientBoostingRegressor(max_iter=PROXY_ROUNDS, early_stopping=False,
                                          random_state=seed)
    model.fit(x_train, np.log1p(y_train) if logged else y_train)
    predicted = model.predict(x_val)
    return float(r2_score(y_val, np.expm1(predicted) if logged else predicted))
