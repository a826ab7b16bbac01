"""Optimizers and learning-rate schedules, built from their configs by name.

Every schedule is stepped once per optimizer step, so warm-up and decay are smooth even for runs
of a few epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import torch
from omegaconf import OmegaConf
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from nnrecipes.bounds import setting
from nnrecipes.components import component, declare
from nnrecipes.config import OptimizerConfig, SchedulerConfig


@dataclass
class SGDConfig(OptimizerConfig):
    lr: float = setting(0.01, gt=0)
    momentum: float = setting(0.9, ge=0, lt=1)
    nesterov: bool = False


@dataclass
class AdamConfig(OptimizerConfig):
    betas: List[float] = setting(factory=lambda: [0.9, 0.999], ge=0, lt=1, length=2)
    eps: float = setting(1e-8, gt=0)


@dataclass
class AdamWConfig(AdamConfig):
    weight_decay: float = setting(0.01, ge=0)


@dataclass
class RMSpropConfig(OptimizerConfig):
    alpha: float = setting(0.99, ge=0, lt=1)
    momentum: float = setting(0.0, ge=0, lt=1)
    eps: float = setting(1e-8, gt=0)


@dataclass
class AdagradConfig(OptimizerConfig):
    lr: float = setting(0.01, gt=0)
    eps: float = setting(1e-10, gt=0)


# Each key of an optimizer's schema is the keyword of the same name of its torch class.
# fused_on: the device types where torch has a fused kernel for it (one kernel per step for all
# parameters instead of several per tensor: on 2 CPU cores an AdamW step over the fast
# Fashion-MNIST preset's 625,530 weights takes 0.4 ms instead of 5.5 ms).
CPU_AND_CUDA = ("cpu", "cuda")
declare("optimizer", "sgd", SGDConfig, torch.optim.SGD, fused_on=CPU_AND_CUDA)
declare("optimizer", "adam", AdamConfig, torch.optim.Adam, fused_on=CPU_AND_CUDA)
declare("optimizer", "adamw", AdamWConfig, torch.optim.AdamW, fused_on=CPU_AND_CUDA)
declare("optimizer", "rmsprop", RMSpropConfig, torch.optim.RMSprop)
declare("optimizer", "adagrad", AdagradConfig, torch.optim.Adagrad, fused_on=("cpu",))


def optimizer_keywords(cfg) -> dict:
    """The torch optimizer's keywords that ``cfg`` (the optimizer config) sets."""
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in OmegaConf.to_container(cfg, resolve=True).items() if key != "name"}


def build_optimizer(cfg, parameters, device: torch.device = torch.device("cpu")
                    ) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names, with torch's fused kernel where it has one for ``device``."""
    item = component("optimizer", cfg.name)
    keys = optimizer_keywords(cfg)
    parameters = list(parameters)
    # torch's fused kernels take real floating-point tensors only (a user's model may hold
    # complex ones); the others fall back to the per-tensor implementation.
    if (device.type in item.trait("fused_on", ())
            and all(torch.is_floating_point(p) for p in parameters)):
        keys["fused"] = True
    return item.build(parameters, **keys)


@dataclass
class NoSchedulerConfig(SchedulerConfig):
    pass


@dataclass
class StepSchedulerConfig(SchedulerConfig):
    step_epochs: int = setting(10, ge=1)
    gamma: float = setting(0.1, gt=0, le=1)


@dataclass
class CosineSchedulerConfig(SchedulerConfig):
    # At most optimizer.lr.
    min_lr: float = setting(0.0, ge=0)
    warmup_epochs: float = setting(0.0, ge=0)


@dataclass
class OneCycleSchedulerConfig(SchedulerConfig):
    # Peak learning rate; by default optimizer.lr.
    max_lr: Optional[float] = setting(None, gt=0)
    pct_start: float = setting(0.3, gt=0, lt=1, kind="a fraction")


def _step_decay(cfg, optimizer, steps_per_epoch: int, total_steps: int) -> LRScheduler:
    period = max(1, cfg.step_epochs * steps_per_epoch)
    return LambdaLR(optimizer, lambda step: cfg.gamma ** (step // period))


def _warmup_cosine(cfg, optimizer, steps_per_epoch: int, total_steps: int) -> LRScheduler:
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    floor = cfg.min_lr / optimizer.param_groups[0]["lr"]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def _one_cycle(cfg, optimizer, steps_per_epoch: int, total_steps: int) -> LRScheduler:
    return OneCycleLR(optimizer, max_lr=cfg.max_lr or optimizer.param_groups[0]["lr"],
                      total_steps=total_steps, pct_start=cfg.pct_start)


# A schedule's builder: (its config, the optimizer, steps per epoch, total steps) -> scheduler.
declare("scheduler", "none", NoSchedulerConfig, lambda *unused: None)
declare("scheduler", "step", StepSchedulerConfig, _step_decay)
declare("scheduler", "cosine", CosineSchedulerConfig, _warmup_cosine)
declare("scheduler", "onecycle", OneCycleSchedulerConfig, _one_cycle)


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, epochs: int,
                    steps_per_epoch: int) -> Optional[LRScheduler]:
    """The schedule ``cfg`` names for a run of ``epochs`` x ``steps_per_epoch`` steps, or None."""
    return component("scheduler", cfg.name).build(cfg, optimizer, steps_per_epoch,
                                                  epochs * steps_per_epoch)
