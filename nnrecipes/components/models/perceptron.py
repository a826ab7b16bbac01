"""``model=perceptron``: one linear layer, the tutorials' first network."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from torch import nn

from nnrecipes.core.config import ModelConfig
from nnrecipes.core.registry import declare


@dataclass
class PerceptronConfig(ModelConfig):
    pass


class Perceptron(nn.Sequential):
    def __init__(self, input_shape: Sequence[int], num_outputs: int):
        super().__init__(nn.Flatten(), nn.Linear(math.prod(input_shape), num_outputs))



declare("model", "perceptron", PerceptronConfig, Perceptron)
