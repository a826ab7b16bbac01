"""``model=cnn``: the tutorials' convolutional blocks, for image data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence

import torch
from torch import nn

from nnrecipes.components.models.layers import dense_block
from nnrecipes.core.bounds import setting
from nnrecipes.core.config import ConfigError, ModelConfig
from nnrecipes.core.registry import declare
from nnrecipes.data import image_data


@dataclass
class CNNConfig(ModelConfig):
    channels: List[int] = setting(factory=lambda: [32, 64, 128], ge=1, entries=(1, 64))
    # At most the images' smaller side (checked when the model is built from the data).
    kernel_size: int = setting(3, ge=1)
    fc_sizes: List[int] = setting(factory=lambda: [512, 512], ge=1, entries=(0, 64))
    dropout: float = setting(0.4, ge=0, lt=1, kind="a probability")
    batch_norm: bool = True
    convs_per_block: int = setting(1, ge=1)  # 2: VGG-style blocks, deeper at the same width
    # Test-time augmentation: out of training (validation, test, predict, export) the output is
    # the mean of the image's and its mirror image's; for a model trained with flips.
    flip_average: bool = False


class CNN(nn.Sequential):
    """Blocks of conv, batch norm and ReLU (``convs_per_block`` times) and a 2x2 max-pool, then
    dense layers with dropout.

    Each block's last ReLU comes after its max-pool: ReLU is monotone, so the two commute
    exactly (outputs and gradients), and ReLU then runs on a quarter of the values. With
    ``flip_average`` an evaluating model averages its outputs for the image and its mirror
    image, so a checkpoint predicts and exports with the test-time augmentation it was tested
    with.
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, channels: Sequence[int],
                 kernel_size: int = 3, fc_sizes: Sequence[int] = (512, 512),
                 dropout: float = 0.4, batch_norm: bool = True, convs_per_block: int = 1,
                 flip_average: bool = False):
        if not image_data(input_shape):
            raise ConfigError(f"model=cnn needs image inputs (C, H, W), got shape {input_shape}")
        c_in, height, width = input_shape
        if kernel_size > min(height, width):
            # A kernel wider than the image is mostly padding, and its weights grow with its
            # square: refuse it before it allocates (kernel 300 is a 100-million-weight net).
            raise ConfigError(f"model.kernel_size={kernel_size} is larger than the {height}x"
                              f"{width} images; at most {min(height, width)}")
        if min(height, width) < 2 ** len(channels):
            raise ConfigError(
                f"model.channels={list(channels)} has {len(channels)} blocks, each halving the "
                f"{height}x{width} images; at most {int(math.log2(min(height, width)))} fit")
        layers = []
        for c_out in channels:
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2,
                                     bias=not batch_norm)]
                layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
                layers += [nn.ReLU()]
                c_in = c_out
            # Parameterless both, so swapping them leaves the state dict's keys as they were.
            layers[-1:] = [nn.MaxPool2d(2), nn.ReLU()]
            height, width = height // 2, width // 2
        layers.append(nn.Flatten())
        features = c_in * height * width
        for size in fc_sizes:
            layers += dense_block(features, size, "relu", dropout, batch_norm)
            features = size
        super().__init__(*layers, nn.Linear(features, num_outputs))
        self.flip_average = flip_average

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outputs = super().forward(images)
        if self.flip_average and not self.training:
            outputs = (outputs + super().forward(images.flip(-1))) / 2
        return outputs



declare("model", "cnn", CNNConfig, CNN, image_only=True)
