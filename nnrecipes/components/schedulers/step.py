"""``scheduler=step``: the learning rate times ``gamma`` every ``step_epochs`` epochs."""

from dataclasses import dataclass

from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import SchedulerConfig
from nnrecipes.core.registry import declare


@dataclass
class StepSchedulerConfig(SchedulerConfig):
    step_epochs: int = setting(10, ge=1)
    gamma: float = setting(0.1, gt=0, le=1)


def step_decay(cfg, optimizer, steps_per_epoch: int, total_steps: int) -> LRScheduler:
    period = max(1, cfg.step_epochs * steps_per_epoch)
    return LambdaLR(optimizer, lambda step: cfg.gamma ** (step // period))


declare("scheduler", "step", StepSchedulerConfig, step_decay)
