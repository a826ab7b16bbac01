"""Range checks that types cannot express, run before any data is loaded or time spent."""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig, OmegaConf

from nnrecipes.core.bounds import apply_aliases, range_problem
from nnrecipes.core.config import ConfigError, Mode
from nnrecipes.core.explain import schema_keys, unknown_key


def _check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def _check_known_keys(node: DictConfig, prefix: str = "") -> None:
    """Keys added with ``+key=value`` that no schema has would otherwise be silently ignored."""
    known = schema_keys(OmegaConf.get_type(node))
    for key in node.keys():
        if known and key not in known:
            raise ConfigError(unknown_key(f"{prefix}{key}", known, prefix.rstrip(".") or "nnrun"))
        child = node.get(key)
        if isinstance(child, DictConfig):
            _check_known_keys(child, f"{prefix}{key}.")


def validate(cfg: DictConfig) -> None:
    """Every declared range (bounds.py), then the checks that span several keys."""
    _check_known_keys(cfg)
    problem = range_problem(cfg)
    if problem is None:
        apply_aliases(cfg)
    if problem:
        raise ConfigError(problem)
    data, opt = cfg.dataset, cfg.optimizer
    _check(data.val_size < 1 or float(data.val_size).is_integer(), "dataset.val_size",
           data.val_size, "a fraction in (0, 1) or a whole number of samples")
    if opt.get("nesterov"):
        _check(opt.momentum > 0, "optimizer.nesterov", True, "needs optimizer.momentum > 0")
    if cfg.scheduler.get("min_lr") is not None:
        _check(cfg.scheduler.min_lr <= opt.lr, "scheduler.min_lr", cfg.scheduler.min_lr,
               f"must be at most optimizer.lr ({opt.lr})")
    _check(cfg.trainer.unfreeze_epoch is None or cfg.model.get("freeze") != "none",
           "trainer.unfreeze_epoch", cfg.trainer.unfreeze_epoch,
           "needs model.freeze=backbone or auto (nothing is frozen to unfreeze)")
    _check_trainer(cfg.trainer)
    _check(cfg.mode != Mode.eval or bool(cfg.checkpoint or cfg.resume), "checkpoint",
           cfg.checkpoint, "mode=eval needs checkpoint=<run dir or .pt file>")
    _check(cfg.mode != Mode.predict or bool(cfg.checkpoint), "checkpoint", cfg.checkpoint,
           "mode=predict needs checkpoint=<run dir or .pt file>")
    _check(cfg.mode != Mode.predict or bool(cfg.input), "input", cfg.input,
           "mode=predict needs input=<a CSV file, an image, or a folder of images>")
    _check(cfg.lr_find.start < cfg.lr_find.end, "lr_find.start", cfg.lr_find.start,
           f"must be below lr_find.end={cfg.lr_find.end} (the rate rises from one to the "
           "other)")


def _check_trainer(trainer: DictConfig) -> None:
    """trainer.folds and fold, class_weight and threshold: values no type can hold alone."""
    _check(trainer.fold is None or (trainer.folds is not None and trainer.fold <= trainer.folds),
           "trainer.fold", trainer.fold, "needs trainer.folds (K) and at most K"
           if trainer.folds is None else f"at most trainer.folds={trainer.folds}")
    weights = trainer.class_weight
    if isinstance(weights, ListConfig):
        _check(len(weights) > 0 and all(_class_weight(w) for w in weights),
               "trainer.class_weight", list(weights),
               f"a list of positive numbers up to {LARGEST_CLASS_WEIGHT:g}, one per class (they "
               f"are relative: [1, 4] weighs the second class four times the first)")
    else:
        _check(weights in ("none", "balanced"), "trainer.class_weight", weights,
               "none, balanced, or a list of one positive weight per class")
    threshold = trainer.threshold
    _check(threshold == "tuned" or (_number(threshold) and 0 < float(threshold) < 1),
           "trainer.threshold", threshold, "a probability in (0, 1), or tuned")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# A larger weight overflows float32 in the loss, which would read as a learning rate too high.
LARGEST_CLASS_WEIGHT = 1e6


def _class_weight(value) -> bool:
    return _positive(value) and value <= LARGEST_CLASS_WEIGHT


def _positive(value) -> bool:
    return _number(value) and value > 0
