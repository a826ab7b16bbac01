"""``model=tabular``: the network for tables, after the published defaults that match gradient
boosting (RealMLP, Holzmüller et al. 2024; TabM, Gorishniy et al. 2025), written here in torch.

Each column is scaled robustly (its training median and interquartile range) and clipped
smoothly, so that a heavy tail neither dominates nor is cut off; each numeric column (more than
two values in training) then enters through its own periodic embedding (PLR, with the value
itself beside it), one-hot and 0/1 columns as they are; k members share the hidden layers, each
scaling the features by its own vector and predicting with its own last layer (TabM-mini);
training scores every member on its own, evaluation returns their mean. The statistics are
buffers of the network, so a checkpoint predicts from raw rows alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

import torch
from torch import nn

from nnrecipes.components.models.layers import Activation, dense_block
from nnrecipes.components.models.mlp import MLPEnsemble, PeriodicEmbedding
from nnrecipes.core.bounds import setting
from nnrecipes.core.config import ConfigError, ModelConfig
from nnrecipes.core.registry import declare


@dataclass
class TabularConfig(ModelConfig):
    # The defaults were chosen on the tuning tables of scripts/real_tables.py (the YAML holds
    # them, with the training they go with); docs/benchmarks.md has how they fare.
    hidden_sizes: List[int] = setting(factory=lambda: [128, 128], ge=1, entries=(1, 16))
    activation: Activation = Activation.relu
    dropout: float = setting(0.0, ge=0, lt=1, kind="a probability")
    # Scaled values x become x / sqrt(1 + (x / clip)^2): about x near 0, never beyond ±clip.
    clip: float = setting(3.0, gt=0)
    embedding_size: int = setting(8, ge=1)  # numbers per numeric column after its embedding
    frequencies: int = setting(16, ge=1)  # sine and cosine pairs per numeric column
    # Spread of the initial frequencies over the scaled values: 0.5 followed the sharp turns
    # of the tuning tables (concrete R² 0.894 at 0.1, 0.930 at 0.5) and 1.5 overfit (Boston).
    frequency_scale: float = setting(0.5, gt=0)
    # Members sharing the hidden layers (TabM's k). 8 members with 8 numbers per column scored
    # within 0.008 R² of 16 with 16 on the tuning tables, at about half the compute.
    ensemble: int = setting(8, ge=1)


class TableInputs(nn.Module):
    """Raw encoded rows to the network's features: robust scaling and smooth clipping of every
    column, then the numeric columns' periodic embeddings beside the others' values."""

    def __init__(self, stats: Dict[str, Any], clip: float, frequencies: int, size: int,
                 scale: float):
        super().__init__()
        # Python lists, not nonzero(): the network is also built on the meta device (sizing).
        numeric = [bool(value) for value in stats["input_numeric"].flatten().tolist()]
        self.register_buffer("center", stats["input_median"].clone().float().flatten())
        self.register_buffer("scale", stats["input_iqr_scale"].clone().float().flatten())
        self.register_buffer("numeric", torch.tensor(
            [index for index, value in enumerate(numeric) if value], dtype=torch.long))
        self.register_buffer("plain", torch.tensor(
            [index for index, value in enumerate(numeric) if not value], dtype=torch.long))
        self.clip = clip
        self.embedding = (PeriodicEmbedding(len(self.numeric), frequencies, size, scale)
                          if len(self.numeric) else None)
        self.width = len(self.plain) + len(self.numeric) * (size + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = (x.float().flatten(1) - self.center) / self.scale
        clipped = scaled / torch.sqrt(1 + (scaled / self.clip).square())
        numbers = clipped[:, self.numeric]
        parts = [clipped[:, self.plain], numbers]
        if self.embedding is not None:
            parts.append(self.embedding(numbers))
        return torch.cat(parts, dim=1)


def tabular_network(input_shape: Sequence[int], num_outputs: int, hidden_sizes: Sequence[int],
                    stats: Dict[str, Any], activation: str = "relu", dropout: float = 0.0,
                    clip: float = 3.0, embedding_size: int = 8, frequencies: int = 16,
                    frequency_scale: float = 0.5, ensemble: int = 8) -> nn.Module:
    if len(input_shape) != 1:  # a user's own data set, known only once loaded
        raise ConfigError(f"model=tabular is for tables (rows of numbers); the data's samples "
                          f"are shaped {tuple(input_shape)}: use model=mlp or model=cnn")
    inputs = TableInputs(stats, clip, frequencies, embedding_size, frequency_scale)
    layers, width = [inputs], inputs.width
    for size in hidden_sizes:
        layers += dense_block(width, size, activation, dropout, False)
        width = size
    network = nn.Sequential(*layers, nn.Linear(width, num_outputs))
    network = network if ensemble == 1 else MLPEnsemble(network, ensemble)
    network.takes_raw_inputs = True  # TableInputs scales the rows itself
    return network


# table_default: nnrun picks it for a table unless model= says otherwise (command_line/argv.py).
declare("model", "tabular", TabularConfig, tabular_network, table_only=True, takes_stats=True,
        table_default=True)
