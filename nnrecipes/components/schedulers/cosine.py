"""``scheduler=cosine`` (the default): a linear warm-up, then cosine decay to ``min_lr``."""

import math
from dataclasses import dataclass

from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import SchedulerConfig
from nnrecipes.core.registry import declare


@dataclass
class CosineSchedulerConfig(SchedulerConfig):
    # At most optimizer.lr.
    min_lr: float = setting(0.0, ge=0)
    warmup_epochs: float = setting(0.0, ge=0)


def warmup_cosine(cfg, optimizer, steps_per_epoch: int, total_steps: int) -> LRScheduler:
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    floor = cfg.min_lr / optimizer.param_groups[0]["lr"]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


declare("scheduler", "cosine", CosineSchedulerConfig, warmup_cosine)
