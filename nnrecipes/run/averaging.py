"""``trainer.ema``: an exponential moving average of the weights, as timm's ModelEmaV2 keeps.

After every optimizer step each floating-point entry of the model's state (parameters and
batch-norm statistics) moves towards the trained model's: ``average = decay x average + (1 -
decay) x weights``; counters are copied. The average starts as the model's initial weights. It
is what validation, the best checkpoint, testing, predict and export use; the trained weights
go on in ``last.pt`` beside it, so a resume continues both exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step of the average towards ``model``'s current state."""
        for average, current in zip(self.module.state_dict().values(),
                                    model.state_dict().values()):
            if average.dtype.is_floating_point:
                average.lerp_(current.to(average.dtype), 1.0 - self.decay)
            else:
                average.copy_(current)
