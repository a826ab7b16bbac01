"""Range checks that types cannot express, run before any data is loaded or time spent."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from nnrecipes.config import ConfigError, Mode
from nnrecipes.explain import schema_keys, unknown_key


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
    """Range checks that types cannot express; run before any data is loaded."""
    _check_known_keys(cfg)
    data, opt, trainer = cfg.dataset, cfg.optimizer, cfg.trainer
    _check(data.batch_size >= 1, "dataset.batch_size", data.batch_size, "must be at least 1")
    _check(data.eval_batch_size >= 1, "dataset.eval_batch_size", data.eval_batch_size,
           "must be at least 1")
    _check(data.val_size > 0 and (data.val_size < 1 or float(data.val_size).is_integer()),
           "dataset.val_size", data.val_size, "a fraction in (0, 1) or a whole number of samples")
    _check(0 < data.test_size < 1, "dataset.test_size", data.test_size, "a fraction in (0, 1)")
    _check(data.limit is None or data.limit >= 2, "dataset.limit", data.limit,
           "at least 2 samples, or null for all")
    _check(opt.lr > 0, "optimizer.lr", opt.lr, "must be greater than 0")
    _check(opt.weight_decay >= 0, "optimizer.weight_decay", opt.weight_decay, "must be >= 0")
    _check(trainer.epochs >= 1, "trainer.epochs", trainer.epochs, "must be at least 1")
    _check(trainer.grad_clip is None or trainer.grad_clip > 0, "trainer.grad_clip",
           trainer.grad_clip, "a positive norm, or null")
    _check(trainer.patience is None or trainer.patience >= 1, "trainer.patience",
           trainer.patience, "at least 1, or null")
    _check(cfg.device.threads is None or cfg.device.threads >= 1, "device.threads",
           cfg.device.threads, "at least 1, or null")
    if "dropout" in cfg.model:
        _check(0 <= cfg.model.dropout < 1, "model.dropout", cfg.model.dropout,
               "a probability in [0, 1)")
    for key in ("hidden_sizes", "channels", "fc_sizes"):
        sizes = cfg.model.get(key)
        if sizes is not None:
            _check(all(size >= 1 for size in sizes), f"model.{key}", list(sizes),
                   "every size must be at least 1")
    _check(0 <= trainer.label_smoothing < 1, "trainer.label_smoothing", trainer.label_smoothing,
           "a fraction in [0, 1)")
    _check(trainer.precision in ("auto", "fp32", "bf16"), "trainer.precision", trainer.precision,
           "auto, fp32 or bf16")
    _check(trainer.baseline in ("auto", "on", "off"), "trainer.baseline", trainer.baseline,
           "auto, on or off")
    _check(cfg.search.trials >= 1, "search.trials", cfg.search.trials, "at least 1")
    _check(cfg.mode != Mode.eval or bool(cfg.checkpoint or cfg.resume), "checkpoint",
           cfg.checkpoint, "mode=eval needs checkpoint=<run dir or .pt file>")
