"""``optimizer=sgd``: stochastic gradient descent with momentum (and Nesterov's, if asked)."""

from dataclasses import dataclass

import torch

from nnrecipes.components.optimizers import CPU_AND_CUDA
from nnrecipes.core.bounds import setting
from nnrecipes.core.config import OptimizerConfig
from nnrecipes.core.registry import declare


@dataclass
class SGDConfig(OptimizerConfig):
    lr: float = setting(0.01, gt=0)
    momentum: float = setting(0.9, ge=0, lt=1)
    nesterov: bool = False


declare("optimizer", "sgd", SGDConfig, torch.optim.SGD, fused_on=CPU_AND_CUDA)
