"""``optimizer=adam`` and ``optimizer=adamw`` (Adam with decoupled weight decay)."""

from dataclasses import dataclass
from typing import List

import torch

from nnrecipes.components.optimizers import CPU_AND_CUDA
from nnrecipes.core.bounds import setting
from nnrecipes.core.config import OptimizerConfig
from nnrecipes.core.registry import declare


@dataclass
class AdamConfig(OptimizerConfig):
    betas: List[float] = setting(factory=lambda: [0.9, 0.999], ge=0, lt=1, length=2)
    eps: float = setting(1e-8, gt=0)


@dataclass
class AdamWConfig(AdamConfig):
    weight_decay: float = setting(0.01, ge=0)


declare("optimizer", "adam", AdamConfig, torch.optim.Adam, fused_on=CPU_AND_CUDA)
declare("optimizer", "adamw", AdamWConfig, torch.optim.AdamW, fused_on=CPU_AND_CUDA)
