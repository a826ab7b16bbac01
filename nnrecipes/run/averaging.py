"""``trainer.ema``: an exponential moving average of the weights, as timm's ModelEmaV2 keeps.

After every optimizer step each floating-point entry of the model's state (parameters and
batch-norm statistics) moves towards the trained model's: ``average = d x average + (1 - d) x
weights``; counters are copied. The average starts as the model's initial weights, so ``d`` warms
up as TensorFlow's ExponentialMovingAverage(num_updates) has it: ``d = min(decay, (1 + t) / (10 +
t))`` after t updates. Without it an average of 0.999 over a run of a few hundred steps is still
mostly the untrained network (the README's iris example: test loss 0.78 against 0.047). It
is what validation, the best checkpoint, testing, predict and export use; the trained weights
go on in ``last.pt`` beside it, so a resume continues both exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """The average of ``model``'s state; ``update()`` after each of its optimizer steps."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0  # kept in checkpoints, so that a resume warms up no further
        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        # Paired once: the model's tensors are updated in place (optimizer steps, resumes), so
        # each step need not build two state dicts again.
        pairs = list(zip(self.module.state_dict().values(), model.state_dict().values()))
        self._averaged = [pair for pair in pairs if pair[0].dtype.is_floating_point]
        self._copied = [pair for pair in pairs if not pair[0].dtype.is_floating_point]

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average towards the model's current state."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for average, current in self._averaged:
            average.lerp_(current, 1.0 - decay)
        for average, current in self._copied:
            average.copy_(current)
