"""``model=...``: each module here declares a model; this package builds the chosen one, sized from
the data and wrapped in its normalisation (layers.py), checks it before training and describes
it. A new model is a file here and a YAML in configs/model/.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from omegaconf import OmegaConf
from torch import nn

from nnrecipes.components.models.layers import Rescale, Standardize
from nnrecipes.core.config import MODEL_RUN_KEYS, ConfigError
from nnrecipes.core.registry import component, declared
from nnrecipes.core.task import Task
from nnrecipes.data import image_datasets


def check_model_fits_data(model_name: str, dataset_name: str, image_data: Optional[bool]) -> None:
    """Before any data is loaded: an image-only model needs image data, a table-only one a
    table."""
    if component("model", model_name).trait("table_only") and image_data:
        others = sorted(name for name, item in declared("model").items()
                        if not item.trait("table_only") and not item.trait("user_code"))
        raise ConfigError(
            f"model={model_name} is for tables (rows of numbers), but dataset={dataset_name} "
            f"is image data. Use {' or '.join(f'model={m}' for m in others)}.")
    if component("model", model_name).trait("image_only") and image_data is False:
        images = image_datasets()
        others = sorted(name for name, item in declared("model").items()
                        if not item.trait("image_only") and not item.trait("user_code"))
        raise ConfigError(
            f"model={model_name} needs image data (channels x height x width), but "
            f"dataset={dataset_name} is tabular. Use {' or '.join(f'model={m}' for m in others)}, "
            f"or an image data set: {', '.join(images)}.")


def _network(cfg, input_shape: Tuple[int, ...], num_outputs: int,
             stats: Optional[Dict[str, torch.Tensor]]) -> nn.Module:
    """The declared model's class, called with the data's shapes and the model's keys (and the
    training split's statistics, for a model declared ``takes_stats``)."""
    keys = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for key in MODEL_RUN_KEYS:  # not the builder's: applied when the run is built
        keys.pop(key, None)
    declared_model = component("model", cfg.name)
    if declared_model.trait("takes_stats"):
        keys["stats"] = stats
    return declared_model.build(input_shape, num_outputs, **keys)


class Model(nn.Sequential):
    """The data's normalisation, the network, and for regression the targets' units: what
    checkpoints save. Batch-norm layers in ``frozen_norms`` stay in evaluation mode while the
    model trains (a frozen backbone keeps its statistics)."""

    frozen_norms: Tuple[nn.Module, ...] = ()
    __jit_ignored_attributes__ = ["frozen_norms"]  # TorchScript exports forward alone

    def train(self, mode: bool = True) -> "Model":
        super().train(mode)
        for norm in self.frozen_norms:
            norm.eval()
        return self


def build_model(cfg, input_shape: Tuple[int, ...], num_outputs: int,
                stats: Optional[Dict[str, torch.Tensor]] = None) -> Model:
    """The network for ``cfg`` (the model config), wrapped in the data's normalisation (unless
    it scales the raw inputs itself, as pretrained weights and model=tabular do)."""
    network = _network(cfg, tuple(input_shape), num_outputs, stats)
    layers = [network]
    if stats is not None:
        if not getattr(network, "takes_raw_inputs", False):
            layers.insert(0, Standardize(stats["input_mean"], stats["input_std"]))
        if "target_mean" in stats:
            layers.append(Rescale(stats["target_mean"], stats["target_std"],
                                  stats.get("target_transform", "none"),
                                  stats.get("target_low"), stats.get("target_high")))
    return Model(*layers)


def head_of(network: nn.Module, label: str,
            sample: Optional[torch.Tensor] = None) -> Tuple[str, nn.Linear]:
    """The network's head: its last layer with weights, which must be linear (fc,
    classifier[-1], heads.head, ... whatever it is called). With ``sample`` (inputs the network
    takes), the head is the last such layer a forward pass runs, and its output must be the
    network's: a model that computes after it (an ensemble's own last step) has no one head."""
    leaves = [(name, module) for name, module in network.named_modules()
              if not list(module.children()) and list(module.parameters(recurse=False))]
    if sample is not None:
        leaves, output, last = _ran(network, leaves, sample)
        if leaves and not (isinstance(last, torch.Tensor) and torch.equal(last, output)):
            raise ConfigError(f"{label} computes its output after its last linear layer (an "
                              f"ensemble's mean, say), so nnrecipes cannot tell its head")
    if not leaves or not isinstance(leaves[-1][1], nn.Linear):
        last = f"is {type(leaves[-1][1]).__name__}" if leaves else "is not there"
        raise ConfigError(f"{label} does not end in a linear layer (its last layer with weights "
                          f"{last}), so nnrecipes cannot tell its head")
    return leaves[-1]


def _ran(network: nn.Module, leaves, sample: torch.Tensor):
    """The layers of ``leaves`` in the order a forward pass on ``sample`` runs them, the
    network's output, and the last one's."""
    order, outputs = [], {}

    def recorder(name: str):
        def record(layer, inputs, output) -> None:  # None: the output stays as it is
            order.append(name)
            outputs[name] = output
        return record

    hooks = [module.register_forward_hook(recorder(name)) for name, module in leaves]
    training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            output = network(sample)
    finally:
        network.train(training)
        for hook in hooks:
            hook.remove()
    by_name = dict(leaves)
    ran = [(name, by_name[name]) for name in dict.fromkeys(order)]
    return ran, output, outputs[order[-1]] if order else None


def replace_module(network: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule ``name`` (dotted: classifier.3) is."""
    parent, _, child = name.rpartition(".")
    setattr(network.get_submodule(parent) if parent else network, child, new)


# Set while a model is rebuilt from a checkpoint: its weights come from the checkpoint, so
# pretrained weights (a file, torch's hub cache) are not read (they may not be on this machine).
_from_checkpoint: ContextVar[bool] = ContextVar("from_checkpoint", default=False)


@contextmanager
def weights_left_unread() -> Iterator[None]:
    """Build models without reading pretrained weights: a checkpoint's (or nothing) fill them."""
    token = _from_checkpoint.set(True)
    try:
        yield
    finally:
        _from_checkpoint.reset(token)


def weights_come_from_checkpoint() -> bool:
    """Whether the model being built gets its weights from a checkpoint afterwards."""
    return _from_checkpoint.get()


def model_from_checkpoint(saved: Dict[str, Any]) -> nn.Module:
    """Rebuild a trained model from a loaded checkpoint alone."""
    spec = saved["model_spec"]
    with weights_left_unread():
        model = build_model(OmegaConf.create(saved["config"]["model"]),
                            tuple(spec["input_shape"]), spec["num_outputs"], saved["stats"])
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


def layer_table(model: nn.Module, sample: torch.Tensor) -> str:
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
