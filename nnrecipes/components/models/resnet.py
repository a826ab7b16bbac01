"""``model=resnet``: a small residual network for small images, built from the tutorials'
residual block (two 3x3 convolutions and a skip connection)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence

import torch
from torch import nn

from nnrecipes.core.bounds import setting
from nnrecipes.core.config import ConfigError, ModelConfig
from nnrecipes.core.registry import declare
from nnrecipes.data import image_data


@dataclass
class ResNetConfig(ModelConfig):
    # One stage per width; each stage after the first halves the image.
    widths: List[int] = setting(factory=lambda: [32, 64, 128], ge=1, entries=(1, 64))
    blocks: int = setting(2, ge=1)  # residual blocks per stage
    dropout: float = setting(0.0, ge=0, lt=1, kind="a probability")  # before the last layer


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (through a strided 1x1 conv where the shape
    changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNet(nn.Sequential):
    def __init__(self, input_shape: Sequence[int], num_outputs: int, widths: Sequence[int],
                 blocks: int = 2, dropout: float = 0.0):
        if not image_data(input_shape):
            raise ConfigError(f"model=resnet needs image inputs (C, H, W), got shape {input_shape}")
        c_in, height, width = input_shape
        if min(height, width) < 2 ** (len(widths) - 1):
            raise ConfigError(
                f"model.widths={list(widths)} has {len(widths)} stages, each after the first "
                f"halving the {height}x{width} images; at most "
                f"{int(math.log2(min(height, width))) + 1} fit")
        layers: List[nn.Module] = [nn.Conv2d(c_in, widths[0], 3, padding=1, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        previous = widths[0]
        for stage, channels in enumerate(widths):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(ResidualBlock(previous, channels, stride))
                previous = channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                   nn.Linear(previous, num_outputs)]
        super().__init__(*layers)


declare("model", "resnet", ResNetConfig, ResNet, image_only=True)
