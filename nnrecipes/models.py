"""Perceptron, MLP and CNN, and ``build_model`` that sizes them from the data.

The built model takes the raw tensors that the data layer keeps on the device (uint8 images,
unscaled features): its first layer standardises them with statistics fit on the training split,
and for regression its last layer maps back to the targets' units. So a checkpoint alone is
enough to predict from raw inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from omegaconf import MISSING, OmegaConf
from torch import nn

from nnrecipes.bounds import setting
from nnrecipes.components import component, declare, declared
from nnrecipes.config import ConfigError, ModelConfig
from nnrecipes.targets import call_target

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
    """y * std + mean: the network predicts standardised targets, the model reports real units."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.std + self.mean


def _dense_block(n_in: int, n_out: int, activation: str, dropout: float, batch_norm: bool):
    layers = [nn.Linear(n_in, n_out, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(ACTIVATIONS[activation]())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers


@dataclass
class PerceptronConfig(ModelConfig):
    pass


class Perceptron(nn.Sequential):
    def __init__(self, input_shape: Sequence[int], num_outputs: int):
        super().__init__(nn.Flatten(), nn.Linear(math.prod(input_shape), num_outputs))


@dataclass
class MLPConfig(ModelConfig):
    hidden_sizes: List[int] = setting(factory=lambda: [128, 128], ge=1)
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
            layers += _dense_block(width, size, activation, dropout, batch_norm)
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


@dataclass
class CNNConfig(ModelConfig):
    channels: List[int] = setting(factory=lambda: [32, 64, 128], ge=1)
    # At most the images' smaller side (checked when the model is built from the data).
    kernel_size: int = setting(3, ge=1)
    fc_sizes: List[int] = setting(factory=lambda: [512, 512], ge=1)
    dropout: float = setting(0.4, ge=0, lt=1, kind="a probability")
    batch_norm: bool = True
    convs_per_block: int = setting(1, ge=1)  # 2: VGG-style blocks, deeper at the same width


class CNN(nn.Sequential):
    """Blocks of conv, batch norm and ReLU (``convs_per_block`` times) and a 2x2 max-pool, then
    dense layers with dropout.

    Each block's last ReLU comes after its max-pool: ReLU is monotone, so the two commute
    exactly (outputs and gradients), and ReLU then runs on a quarter of the values.
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, channels: Sequence[int],
                 kernel_size: int = 3, fc_sizes: Sequence[int] = (512, 512),
                 dropout: float = 0.4, batch_norm: bool = True, convs_per_block: int = 1):
        if len(input_shape) != 3:
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
            layers += _dense_block(features, size, "relu", dropout, batch_norm)
            features = size
        super().__init__(*layers, nn.Linear(features, num_outputs))


declare("model", "perceptron", PerceptronConfig, Perceptron)
declare("model", "mlp", MLPConfig, mlp_network)
declare("model", "cnn", CNNConfig, CNN, image_only=True)


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


def check_model_fits_data(model_name: str, dataset_name: str, image_data: Optional[bool]) -> None:
    """Before any data is loaded: an image-only model needs image data."""
    if component("model", model_name).trait("image_only") and image_data is False:
        images = sorted(name for name, item in declared("dataset").items() if item.trait("image"))
        others = sorted(name for name, item in declared("model").items()
                        if not item.trait("image_only") and not item.trait("user_code"))
        raise ConfigError(
            f"model={model_name} needs image data (channels x height x width), but "
            f"dataset={dataset_name} is tabular. Use {' or '.join(f'model={m}' for m in others)}, "
            f"or an image data set: {', '.join(images)}.")


def _network(cfg, input_shape: Tuple[int, ...], num_outputs: int) -> nn.Module:
    """The declared model's class, called with the data's shapes and the model's keys."""
    keys = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    keys.pop("name")
    return component("model", cfg.name).build(input_shape, num_outputs, **keys)


def build_model(cfg, input_shape: Tuple[int, ...], num_outputs: int,
                stats: Optional[Dict[str, torch.Tensor]] = None) -> nn.Sequential:
    """The network for ``cfg`` (the model config), wrapped in the data's normalisation."""
    layers = [_network(cfg, tuple(input_shape), num_outputs)]
    if stats is not None:
        layers.insert(0, Standardize(stats["input_mean"], stats["input_std"]))
        if "target_mean" in stats:
            layers.append(Rescale(stats["target_mean"], stats["target_std"]))
    return nn.Sequential(*layers)


def model_label(cfg) -> str:
    """How messages name the model ``cfg`` configures: its option, or the user's class."""
    return f"model.target={cfg.target}" if cfg.get("target") else f"model={cfg.name}"


OUTPUTS = {"multiclass": "one logit per class", "binary": "one logit",
           "regression": "one value"}


def check_model(model: nn.Module, sample: torch.Tensor, task: str, num_outputs: int,
                label: str) -> None:
    """Before any training: the model has weights to train, and a forward pass on ``sample``
    (two training inputs) returns one finite floating-point tensor of (batch, num_outputs).
    A user's model that does not is named with what it did and what is expected."""
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise ConfigError(f"{label} has no parameters to train: its layers with weights "
                          f"(nn.Linear, nn.Conv2d, ...) must be attributes set in __init__, "
                          f"with requires_grad left on")
    training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outputs = model(sample)
    except SystemExit as stop:
        raise ConfigError(f"{label} called sys.exit({stop.code}) in forward") from None
    finally:
        model.train(training)
    expected = f"one tensor of shape ({len(sample)}, {num_outputs}): {OUTPUTS[task]}"
    if not isinstance(outputs, torch.Tensor) or not outputs.is_floating_point():
        kind = (f"a {outputs.dtype} tensor" if isinstance(outputs, torch.Tensor)
                else f"a {type(outputs).__name__}")
        raise ConfigError(f"{label} returned {kind} from forward; it must return floating-point "
                          f"outputs, {expected}")
    shape = tuple(outputs.shape)
    if shape != (len(sample), num_outputs) and not (num_outputs == 1 and shape == (len(sample),)):
        raise ConfigError(f"{label} returned outputs of shape {shape} for {len(sample)} samples; "
                          f"the data needs {expected}")
    if not bool(torch.isfinite(outputs).all()):
        raise ConfigError(f"{label} returned NaN or infinite outputs for two training samples "
                          f"before any training: look at its forward and its initial weights")


def describe(model: nn.Module, sample: torch.Tensor) -> str:
    """The model's layers with output shapes and parameter counts, from one forward pass."""
    rows, hooks = [], []
    for name, module in model.named_modules():
        if not list(module.children()):
            def record(layer, inputs, output, name=name):
                parameters = sum(p.numel() for p in layer.parameters())
                rows.append((name, type(layer).__name__, tuple(output.shape[1:]), parameters))
            hooks.append(module.register_forward_hook(record))
    training = model.training
    model.eval()
    with torch.inference_mode():
        model(sample)
    model.train(training)
    for hook in hooks:
        hook.remove()
    lines = [f"{'layer':<12} {'type':<14} {'output shape':<18} {'parameters':>10}"]
    lines += [f"{name:<12} {kind:<14} {str(shape):<18} {count:>10,}"
              for name, kind, shape, count in rows]
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return "\n".join([*lines, f"total parameters {total:,} (trainable {trainable:,})"])
