"""Optimizers and learning-rate schedules, built from their configs by name.

Every schedule is stepped once per optimizer step, so warm-up and decay are smooth even for runs
of a few epochs.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from nnrecipes.config import ConfigError


def _sgd(cfg) -> Dict:
    return {"momentum": cfg.momentum, "nesterov": cfg.nesterov}


def _adam(cfg) -> Dict:
    return {"betas": tuple(cfg.betas), "eps": cfg.eps}


def _rmsprop(cfg) -> Dict:
    return {"alpha": cfg.alpha, "momentum": cfg.momentum, "eps": cfg.eps}


def _adagrad(cfg) -> Dict:
    return {"eps": cfg.eps}


OPTIMIZERS: Dict[str, tuple] = {
    "sgd": (torch.optim.SGD, _sgd),
    "adam": (torch.optim.Adam, _adam),
    "adamw": (torch.optim.AdamW, _adam),
    "rmsprop": (torch.optim.RMSprop, _rmsprop),
    "adagrad": (torch.optim.Adagrad, _adagrad),
}


FUSED_ON_CUDA = {"sgd", "adam", "adamw"}


def build_optimizer(cfg, parameters, device: torch.device = torch.device("cpu")
                    ) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names; on CUDA the fused kernels where torch has them."""
    if cfg.name not in OPTIMIZERS:
        raise ConfigError(f"optimizer={cfg.name!r} is unknown; known: {', '.join(OPTIMIZERS)}")
    optimizer_class, options = OPTIMIZERS[cfg.name]
    extra = {"fused": True} if device.type == "cuda" and cfg.name in FUSED_ON_CUDA else {}
    return optimizer_class(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay, **options(cfg),
                           **extra)


def _step_decay(cfg, steps_per_epoch: int, total_steps: int, base_lr: float) -> Callable:
    period = max(1, cfg.step_epochs * steps_per_epoch)
    return lambda step: cfg.gamma ** (step // period)


def _warmup_cosine(cfg, steps_per_epoch: int, total_steps: int, base_lr: float) -> Callable:
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    floor = cfg.min_lr / base_lr

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


SCHEDULES = {"step": _step_decay, "cosine": _warmup_cosine}


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, epochs: int,
                    steps_per_epoch: int) -> Optional[LRScheduler]:
    """The schedule ``cfg`` names for a run of ``epochs`` x ``steps_per_epoch`` steps, or None."""
    total_steps = epochs * steps_per_epoch
    base_lr = optimizer.param_groups[0]["lr"]
    if cfg.name == "none":
        return None
    if cfg.name == "onecycle":
        return OneCycleLR(optimizer, max_lr=cfg.max_lr or base_lr, total_steps=total_steps,
                          pct_start=cfg.pct_start)
    if cfg.name not in SCHEDULES:
        raise ConfigError(f"scheduler={cfg.name!r} is unknown; known: none, step, cosine, onecycle")
    return LambdaLR(optimizer, SCHEDULES[cfg.name](cfg, steps_per_epoch, total_steps, base_lr))
