"""``model=...``: each module here declares a model; this package builds the chosen one, sized from
the data and wrapped in its normalisation (layers.py), checks it before training and describes
it. A new model is a file here and a YAML in configs/model/.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from omegaconf import OmegaConf
from torch import nn

from nnrecipes.components.models.layers import Rescale, Standardize
from nnrecipes.core.config import ConfigError
from nnrecipes.core.registry import component, declared
from nnrecipes.core.task import Task
from nnrecipes.data import image_datasets


def check_model_fits_data(model_name: str, dataset_name: str, image_data: Optional[bool]) -> None:
    """Before any data is loaded: an image-only model needs image data."""
    if component("model", model_name).trait("image_only") and image_data is False:
        images = image_datasets()
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


def model_from_checkpoint(saved: Dict[str, Any]) -> nn.Module:
    """Rebuild a trained model from a loaded checkpoint alone."""
    spec = saved["model_spec"]
    model = build_model(OmegaConf.create(saved["config"]["model"]), tuple(spec["input_shape"]),
                        spec["num_outputs"], saved["stats"])
    model.load_state_dict(saved["model"])
    return model


def model_label(cfg) -> str:
    """How messages name the model ``cfg`` configures: its option, or the user's class."""
    return f"model.target={cfg.target}" if cfg.get("target") else f"model={cfg.name}"


def check_model(model: nn.Module, sample: torch.Tensor, task: Task, num_outputs: int,
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
    expected = f"one tensor of shape ({len(sample)}, {num_outputs}), {task.output_meaning}"
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
