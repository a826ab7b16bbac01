"""``scheduler=none``: the optimizer's learning rate throughout."""

from dataclasses import dataclass

from nnrecipes.core.config import SchedulerConfig
from nnrecipes.core.registry import declare


@dataclass
class NoSchedulerConfig(SchedulerConfig):
    pass


declare("scheduler", "none", NoSchedulerConfig, lambda *unused: None)
