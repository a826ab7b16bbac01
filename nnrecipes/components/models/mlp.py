"""``model=mlp``: dense layers, with numeric embeddings (PLR) and a parameter-efficient ensemble
(TabM-mini) for tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Sequence

import torch
from torch import nn

from nnrecipes.components.models.layers import Activation, dense_block
from nnrecipes.core.bounds import setting
from nnrecipes.core.config import ModelConfig
from nnrecipes.core.registry import declare


@dataclass
class MLPConfig(ModelConfig):
    # [] is a linear model; more than 64 layers train no better without skip connections.
    hidden_sizes: List[int] = setting(factory=lambda: [128, 128], ge=1, entries=(0, 64))
    activation: Activation = Activation.relu
    dropout: float = setting(0.0, ge=0, lt=1, kind="a probability")
    batch_norm: bool = False
    # How each input feature enters: "none", as it is; "periodic", through learned sine and
    # cosine frequencies, a linear layer and ReLU of its own (PLR embeddings, Gorishniy et al.
    # 2022), which lets an MLP follow the sharp turns in tabular data that trees find.
    embedding: str = setting("none", choices=("none", "periodic"))
    embedding_size: int = setting(16, ge=1)  # numbers per feature after the embedding
    frequencies: int = setting(48, ge=1)  # sine and cosine pairs per feature
    # Spread of the initial frequencies (over standardised features): larger follows finer
    # detail, and overfits sooner.
    frequency_scale: float = setting(0.1, gt=0)
    # Members of a parameter-efficient ensemble (TabM-mini, Gorishniy et al. 2024): 1 is a
    # plain MLP; k > 1 shares the hidden layers between k members that each scale the input
    # by their own vector and have their own last layer; predictions are the members' mean.
    ensemble: int = setting(1, ge=1)


class PeriodicEmbedding(nn.Module):
    """Each feature x to ReLU(W_f [cos 2πc_f x, sin 2πc_f x] + b_f), flattened: a learned
    frequency vector c_f and a linear layer W_f, b_f per feature (PLR)."""

    def __init__(self, features: int, frequencies: int, size: int, scale: float):
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(features, frequencies) * scale)
        bound = 1 / math.sqrt(2 * frequencies)  # nn.Linear's initial range for 2k inputs
        self.weight = nn.Parameter(torch.empty(features, 2 * frequencies, size).uniform_(
            -bound, bound))
        self.bias = nn.Parameter(torch.empty(features, size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * x.flatten(1).unsqueeze(-1) * self.frequencies
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        embedded = torch.einsum("bfi,fio->bfo", periodic, self.weight) + self.bias
        return torch.relu(embedded).flatten(1)


class MLP(nn.Sequential):
    def __init__(self, input_shape: Sequence[int], num_outputs: int, hidden_sizes: Sequence[int],
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                 embedding: str = "none", embedding_size: int = 16, frequencies: int = 48,
                 frequency_scale: float = 0.1):
        layers, width = [nn.Flatten()], math.prod(input_shape)
        if embedding == "periodic":
            layers = [PeriodicEmbedding(width, frequencies, embedding_size, frequency_scale)]
            width *= embedding_size
        for size in hidden_sizes:
            layers += dense_block(width, size, activation, dropout, batch_norm)
            width = size
        super().__init__(*layers, nn.Linear(width, num_outputs))


class MLPEnsemble(nn.Module):
    """k MLPs sharing their layers but the last (TabM-mini): member i scales the features by its
    own vector (initially random signs) and predicts with its own last layer.

    Training, it returns every member's outputs, (batch, members, outputs), and each member is
    scored on its own (tasks.make_loss), which keeps them diverse; evaluating, their mean.
    """

    def __init__(self, mlp: MLP, members: int):
        super().__init__()
        last = mlp[-1]
        layers = list(mlp)
        # the flatten or the embedding; the hidden layers
        self.front, self.body = layers[0], nn.Sequential(*layers[1:-1])
        features = self.body[0].in_features if len(self.body) else last.in_features
        self.scale = nn.Parameter(torch.randint(0, 2, (members, features)).float() * 2 - 1)
        bound = 1 / math.sqrt(last.in_features)  # nn.Linear's initial range
        self.head_weight = nn.Parameter(torch.empty(members, last.in_features,
                                                    last.out_features).uniform_(-bound, bound))
        self.head_bias = nn.Parameter(torch.empty(members, last.out_features)
                                      .uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = self.front(x).unsqueeze(1) * self.scale  # batch, k, features
        hidden = self.body(members.flatten(0, 1)).unflatten(0, members.shape[:2])
        outputs = torch.einsum("bkh,kho->bko", hidden, self.head_weight) + self.head_bias
        return outputs if self.training else outputs.mean(dim=1)


def mlp_network(input_shape: Sequence[int], num_outputs: int, ensemble: int = 1,
                **keys: Any) -> nn.Module:
    network = MLP(input_shape, num_outputs, **keys)
    return network if ensemble == 1 else MLPEnsemble(network, ensemble)



declare("model", "mlp", MLPConfig, mlp_network)
