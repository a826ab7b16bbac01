"""``optimizer=rmsprop``."""

from dataclasses import dataclass

import torch

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import OptimizerConfig
from nnrecipes.core.registry import declare


@dataclass
class RMSpropConfig(OptimizerConfig):
    alpha: float = setting(0.99, ge=0, lt=1)
    momentum: float = setting(0.0, ge=0, lt=1)
    eps: float = setting(1e-8, gt=0)


declare("optimizer", "rmsprop", RMSpropConfig, torch.optim.RMSprop)
