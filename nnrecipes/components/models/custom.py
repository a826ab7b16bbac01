"""``model=custom``: a user's own nn.Module, named as module:Class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from omegaconf import MISSING
from torch import nn

from nnrecipes.core.config import ConfigError, ModelConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.targets import call_target


@dataclass
class CustomModelConfig(ModelConfig):
    # A user's own nn.Module as module:Class, built as Class(input_shape, num_outputs, **args).
    target: str = MISSING
    args: Dict[str, Any] = field(default_factory=dict)


def custom_network(input_shape: Tuple[int, ...], num_outputs: int, target: str,
                   args: Dict[str, Any]) -> nn.Module:
    network = call_target(target, "model.target", input_shape, num_outputs, **args)
    if not isinstance(network, nn.Module):
        raise ConfigError(f"model.target={target} built a {type(network).__name__}, not a "
                          f"torch.nn.Module")
    return network


# nnrun model=custom model.target=my_nets:TinyResNet +model.args.width=64
declare("model", "custom", CustomModelConfig, custom_network, user_code=True)


