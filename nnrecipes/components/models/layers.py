"""Layers the models share: the normalisation that travels in every checkpoint, and a dense block.

The built model takes the raw tensors that the data layer keeps on the device (uint8 images,
unscaled features): its first layer standardises them with statistics fit on the training split,
and for regression its last layer maps back to the targets' units. So a checkpoint alone is
enough to predict from raw inputs.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional

import torch
from torch import nn

from nnrecipes.core.target_transform import TargetTransform

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU}
Activation = Enum("Activation", {name: name for name in ACTIVATIONS}, type=str)


class _Statistics(nn.Module):
    """Holds a mean and a standard deviation as buffers, so they travel in the state dict."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.clone().float())
        self.register_buffer("std", std.clone().float())


class Standardize(_Statistics):
    """(x - mean) / std, converting integer pixels to float on the device."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std


class Rescale(_Statistics):
    """y * std + mean: the network predicts standardised targets, the model reports real units;
    with a target transform (log1p), its inverse after that. Given the training targets' range
    (in the learnt space), predictions are kept inside it, as RealMLP does: a row beyond the
    training inputs then cannot be extrapolated to a value no training row came near. Only in
    evaluation: the training loss keeps its gradient everywhere."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor,
                 transform: TargetTransform = TargetTransform.none,
                 low: Optional[torch.Tensor] = None, high: Optional[torch.Tensor] = None):
        super().__init__(mean, std)
        self.transform = TargetTransform(transform)
        self.bounded = low is not None and high is not None
        if self.bounded:
            self.register_buffer("low", low.clone().float())
            self.register_buffer("high", high.clone().float())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        learnt = y * self.std + self.mean
        if self.bounded and not self.training:
            learnt = torch.minimum(torch.maximum(learnt, self.low), self.high)
        return self.transform.inverse(learnt)


def dense_block(n_in: int, n_out: int, activation: str, dropout: float, batch_norm: bool):
    layers = [nn.Linear(n_in, n_out, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(ACTIVATIONS[activation]())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers
