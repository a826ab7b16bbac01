"""``scheduler=...``: each module here declares a learning-rate schedule, whose builder takes (its
config, the optimizer, steps per epoch, total steps) and returns a torch scheduler (or None).

Every schedule is stepped once per optimizer step, so warm-up and decay are smooth even for runs
of a few epochs.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.optim.lr_scheduler import LRScheduler

from nnrecipes.core.registry import component


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, epochs: int,
                    steps_per_epoch: int) -> Optional[LRScheduler]:
    """The schedule ``cfg`` names for a run of ``epochs`` x ``steps_per_epoch`` steps, or None."""
    return component("scheduler", cfg.name).build(cfg, optimizer, steps_per_epoch,
                                                  epochs * steps_per_epoch)
