"""``optimizer=adagrad`` (torch fuses it on CPU only)."""

from dataclasses import dataclass

import torch

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import OptimizerConfig
from nnrecipes.core.registry import declare


@dataclass
class AdagradConfig(OptimizerConfig):
    lr: float = setting(0.01, gt=0)
    eps: float = setting(1e-10, gt=0)


declare("optimizer", "adagrad", AdagradConfig, torch.optim.Adagrad, fused_on=("cpu",))
