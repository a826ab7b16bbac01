"""``scheduler=onecycle``: torch's one-cycle policy, up to ``max_lr`` and down again."""

from dataclasses import dataclass
from typing import Optional

from torch.optim.lr_scheduler import LRScheduler, OneCycleLR

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import SchedulerConfig
from nnrecipes.core.registry import declare


@dataclass
class OneCycleSchedulerConfig(SchedulerConfig):
    # Peak learning rate; by default optimizer.lr.
    max_lr: Optional[float] = setting(None, gt=0)
    pct_start: float = setting(0.3, gt=0, lt=1, kind="a fraction")


def one_cycle(cfg, optimizer, steps_per_epoch: int, total_steps: int) -> LRScheduler:
    # Each parameter group peaks in proportion to its own rate (a backbone's lr is scaled).
    first, *others = optimizer.param_groups
    peak = cfg.max_lr or first["lr"]
    return OneCycleLR(optimizer, max_lr=[peak, *(peak * group["lr"] / first["lr"]
                                                 for group in others)],
                      total_steps=total_steps, pct_start=cfg.pct_start)


declare("scheduler", "onecycle", OneCycleSchedulerConfig, one_cycle)
