"""``model=torchvision model.arch=NAME``: any classification network of torchvision's registry,
its head (the last linear layer, whatever it is called) replaced by one for the data's classes.

With pretrained weights the network takes what they expect: three channels (grey images are
repeated), the weights' image size (the data is resized inside the model) and their mean and
standard deviation, so checkpoints, ``mode=predict`` and exports still take raw uint8 pixels.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from nnrecipes.components.models import head_of, replace_module, weights_come_from_checkpoint
from nnrecipes.components.models.pretrained import (cached_state, is_file_reference, load_fitting,
                                                    load_state_file, named_weights)
from nnrecipes.core.bounds import setting
from nnrecipes.core.config import ConfigError, ModelConfig
from nnrecipes.core.registry import declare
from nnrecipes.data import image_data


@dataclass
class TorchvisionConfig(ModelConfig):
    # A classification model of torchvision.models.list_models(), e.g. resnet18.
    arch: str = "resnet18"
    # null: random weights; a torchvision weights name (DEFAULT, IMAGENET1K_V1, ...) from torch's
    # hub cache; or a state-dict file (.pt, .pth, .safetensors).
    weights: Optional[str] = None
    # Download named weights missing from the hub cache.
    download: bool = False
    # The size images are resized to inside the network. null: dataset.image_size where the data
    # set decodes files at a size (it then defaults to the weights' size), else the weights' size
    # (random weights: the data's).
    image_size: Optional[int] = setting(None, ge=8)


def architectures() -> Sequence[str]:
    from torchvision import models

    return models.list_models(module=models)


class FitInput(nn.Module):
    """Raw pixels to what the network takes: three channels, ``size`` x ``size``, and, for
    pretrained weights, scaled to [0, 1] and standardised with their mean and std."""

    def __init__(self, size: int, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None):
        super().__init__()
        self.size = size
        self.takes_raw_inputs = mean is not None
        mean, std = mean or (0.0, 0.0, 0.0), std or (1.0, 1.0, 1.0)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (self.size, self.size):
            shrinking = x.shape[-1] > self.size
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=shrinking)
        if self.takes_raw_inputs:
            x = (x / 255.0 - self.mean) / self.std
        return x


class TorchvisionNet(nn.Sequential):
    """FitInput, then the torchvision network with its new head. ``takes_raw_inputs``: it
    standardises with the weights' statistics, so build_model adds no statistics of the data."""

    def __init__(self, fit: FitInput, network: nn.Module):
        super().__init__(fit, network)
        self.takes_raw_inputs = fit.takes_raw_inputs


def _check_arch(arch: str) -> None:
    known = architectures()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(f"model.arch={arch} is not a classification model of torchvision; "
                          f"{hint}torchvision.models.list_models() lists {len(known)}")


def _patch(arch: str) -> Optional[int]:
    """A vision transformer's patch size (vit_b_16: 16), which its image size must divide."""
    found = re.fullmatch(r"vit_\w_(\d+)", arch)
    return int(found.group(1)) if found else None


def _built(arch: str, size: int) -> Tuple[nn.Module, int]:
    """The random-weights network, and the image size it takes."""
    from torchvision import models

    patch, keywords = _patch(arch), {}
    if patch:  # built for the data's size (rounded up to whole patches), not 224
        size = math.ceil(size / patch) * patch
        keywords["image_size"] = size
    if arch in ("googlenet", "inception_v3"):
        keywords["init_weights"] = True  # torchvision warns without it
    return models.get_model(arch, weights=None, **keywords), size


def _at_size(state, arch: str, size: int):
    """A vision transformer's weights with their position embeddings interpolated to ``size``
    (torchvision's own rule), so that they fit a network built for other images."""
    patch = _patch(arch)
    if not patch or "encoder.pos_embedding" not in state:
        return state
    from torchvision.models.vision_transformer import interpolate_embeddings

    return interpolate_embeddings(size, patch, dict(state))


def torchvision_network(input_shape: Tuple[int, ...], num_outputs: int, arch: str,
                        weights: Optional[str] = None, download: bool = False,
                        image_size: Optional[int] = None) -> nn.Module:
    if not image_data(input_shape):
        raise ConfigError(f"model=torchvision needs image inputs (C, H, W), got shape "
                          f"{input_shape}")
    if input_shape[0] not in (1, 3):
        raise ConfigError(f"model=torchvision takes grey or RGB images; the data has "
                          f"{input_shape[0]} channels")
    _check_arch(arch)
    named = named_weights(arch, weights) if weights and not is_file_reference(weights) else None
    # Pretrained weights take their own image size; random ones the data's.
    network, size = _built(arch, image_size or (named.transforms().crop_size[0] if named
                                                else input_shape[-1]))
    head_name, head = head_of(network, f"model.arch={arch}")
    if weights and not weights_come_from_checkpoint():
        state = (cached_state(named, download) if named else
                 load_state_file(weights, "model.weights"))
        load_fitting(network, _at_size(state, arch, size), head_name, f"model.weights={weights}")
    if hasattr(network, "aux_logits"):  # googlenet, inception: one output, in training too
        network.aux_logits = False
        for name in ("AuxLogits", "aux1", "aux2"):
            if hasattr(network, name):
                setattr(network, name, None)
    replace_module(network, head_name, nn.Linear(head.in_features, num_outputs))
    transform = named.transforms() if named else None
    fit = FitInput(size, transform.mean if transform else None, transform.std if transform else None)
    return TorchvisionNet(fit, network)


def input_size(model_cfg) -> Optional[int]:
    """The image size the configured weights expect (image folders are decoded at it)."""
    weights = model_cfg.get("weights")
    if not weights or is_file_reference(weights):
        return None
    return named_weights(model_cfg.arch, weights).transforms().crop_size[0]


declare("model", "torchvision", TorchvisionConfig, torchvision_network, image_only=True,
        input_size=input_size, backbone=True)
