"""Starting from what an earlier model learnt: ``model.init`` (an earlier run's weights) and
``model.freeze=backbone`` with ``trainer.unfreeze_epoch`` (train the head first, then all);
``model.freeze=auto``, the default, does so for one epoch where a run starts from weights.

The head is the network's last linear layer (``components.models.head_of``); the backbone is
everything else that has weights. The data's normalisation is never taken from the earlier run:
it is fit on this run's training split.
"""

from __future__ import annotations

import logging
from typing import List, Optional, Tuple

from torch import nn

from nnrecipes.components.models import Model, head_of
from nnrecipes.components.models.layers import Rescale, Standardize
from nnrecipes.components.models.pretrained import check_values
from nnrecipes.core.config import ConfigError
from nnrecipes.records.checkpoint import load_checkpoint

log = logging.getLogger("nnrecipes")


def _network_prefix(model: Model) -> str:
    """The state-dict prefix of the network in Model(Standardize?, network, Rescale?)."""
    index = next(index for index, part in enumerate(model)
                 if not isinstance(part, (Standardize, Rescale)))
    return f"{index}."


def _saved_network_prefix(state) -> str:
    """The same for a saved model: its data's statistics, when it has them, come first."""
    return "1." if "0.mean" in state else "0."


def _head(model: Model, label: str, sample) -> str:
    """The head's name within the network (``fc``, ``13``); ``sample``: two training inputs,
    on which it is found (head_of)."""
    prefix = _network_prefix(model)
    inputs = sample
    for part in model[:int(prefix[:-1])]:
        inputs = part(inputs)
    return head_of(model[int(prefix[:-1])], label, inputs)[0]


def _fitting_keys(network) -> Tuple[str, ...]:
    """What fits inputs to the network (FitInput's statistics and size): never taken over."""
    return tuple(f"{name}." for name, module in network.named_modules()
                 if type(module).__name__ == "FitInput")


def initialise(model: Model, location: str, label: str, sample,
               class_names: Optional[List[str]]) -> None:
    """Start ``model`` from the best weights of the run (or checkpoint) at ``location``: every
    tensor of its network, and the head too when the classes are the same (by name, in order);
    else the head stays new. The data's statistics are this run's own."""
    saved = load_checkpoint(location, name="best.pt")
    prefix, head = _network_prefix(model), _head(model, label, sample)
    their_prefix = _saved_network_prefix(saved["model"])
    theirs = {key[len(their_prefix):]: value for key, value in saved["model"].items()
              if key.startswith(their_prefix)}
    mine = {key[len(prefix):]: value for key, value in model.state_dict().items()
            if key.startswith(prefix)}
    skipped = _fitting_keys(model[int(prefix[:-1])])
    taken, head_kept = {}, True
    for key, tensor in mine.items():
        if key.startswith(skipped):
            continue
        found = theirs.get(key)
        fits = found is not None and tuple(found.shape) == tuple(tensor.shape)
        if key.startswith(head + "."):
            head_kept &= fits
        elif not fits:
            _check_inputs_alike(saved, sample, location)
            shape = "is missing" if found is None else f"is {tuple(found.shape)}"
            raise ConfigError(f"model.init={location} does not fit this model: its {prefix}{key} "
                              f"{shape}, this model's {tuple(tensor.shape)} (trained with "
                              f"model={saved['config']['model']['name']}; the layers but the "
                              f"head must be alike)")
        if fits:
            check_values(found, tensor, prefix + key, f"model.init={location}")
            taken[key] = found
    head_kept &= saved.get("class_names") == class_names
    if not head_kept:
        taken = {key: value for key, value in taken.items() if not key.startswith(head + ".")}
    if not taken:
        raise ConfigError(f"model.init={location}: nothing to take from it, as this model has no "
                          f"layer but its head and the classes differ; start from a run of a "
                          f"model with layers before its head")
    model.load_state_dict({prefix + key: value for key, value in taken.items()}, strict=False)
    log.info(f"model.init: {len(taken)} tensors from {saved['path']}; the head "
             f"{'kept (the same classes)' if head_kept else 're-initialised (other classes)'}")


def _check_inputs_alike(saved, sample, location: str) -> None:
    """A layer that does not fit because the images had another number of channels: said as
    such."""
    theirs, mine = saved["model_spec"]["input_shape"], list(sample.shape[1:])
    if len(theirs) == 3 and len(mine) == 3 and theirs[0] != mine[0]:
        raise ConfigError(f"model.init={location} was trained on {theirs[0]}-channel images, "
                          f"this data has {mine[0]} channels; set dataset.channels={theirs[0]}, "
                          f"or start from a run on {mine[0]}-channel images")


# model.freeze=auto: the last epoch a run started from weights trains its head alone (the
# fine-tuning default). Measured with scripts/transfer.py (docs/fine-tuning.md): the head first
# gained on every seed; a slower backbone (optimizer.backbone_lr_scale=0.1), weight decay and
# label smoothing each lost to training everything at the plain settings.
FINE_TUNING_UNFREEZE_EPOCH = 1


def starts_from_weights(model_cfg) -> Optional[str]:
    """The key that starts the model from weights (``model.init``, ``model.weights``), or None."""
    return next((f"model.{key}" for key in ("init", "weights")
                 if model_cfg.get(key) is not None), None)


def freezing_for(model: Model, model_cfg, unfreeze_epoch: Optional[int], label: str, sample,
                 backbone_lr_scale: float) -> Optional["Freezing"]:
    """What trains in each epoch (``model.freeze``, ``trainer.unfreeze_epoch``), with auto
    decided here; None where everything always trains at one rate."""
    freeze = model_cfg.freeze
    if freeze == "auto":
        freeze, unfreeze_epoch = _fine_tuning_default(model, model_cfg, unfreeze_epoch, label,
                                                      sample)
    if freeze == "none" and backbone_lr_scale == 1:
        return None
    return Freezing(model, freeze, unfreeze_epoch, label, sample, backbone_lr_scale)


def _fine_tuning_default(model: Model, model_cfg, unfreeze_epoch: Optional[int], label: str,
                         sample) -> Tuple[str, Optional[int]]:
    """model.freeze=auto: the backbone frozen for the first epochs of a run started from
    weights that has one, said in the log; nothing frozen otherwise."""
    source = starts_from_weights(model_cfg)
    if source is None:
        if unfreeze_epoch is not None:
            raise ConfigError(f"trainer.unfreeze_epoch={unfreeze_epoch}: nothing is frozen, as "
                              f"the run starts from no weights (model.freeze=auto freezes the "
                              f"backbone of a run started from model.init or model.weights); "
                              f"set model.freeze=backbone to freeze it anyway")
        return "none", None
    if not _backbone_of(model, label, sample)[0]:
        return "none", None
    last = unfreeze_epoch or FINE_TUNING_UNFREEZE_EPOCH
    epochs = "epoch 1" if last == 1 else f"epochs 1-{last}"
    log.info(f"model.freeze=auto: started from {source}, the head alone trains in {epochs}, "
             f"everything from epoch {last + 1} (the fine-tuning default); model.freeze=none "
             f"trains everything from the start")
    return "backbone", last


def _backbone_of(model: Model, label: str, sample) -> Tuple[List[nn.Parameter],
                                                            Tuple[nn.Module, ...]]:
    """The parameters of everything but the head, and its batch-norm layers."""
    head = _network_prefix(model) + _head(model, label, sample)
    parameters = [parameter for name, parameter in model.named_parameters()
                  if not name.startswith(head + ".")]
    norms = tuple(module for name, module in model.named_modules()
                  if isinstance(module, nn.modules.batchnorm._BatchNorm)
                  and not name.startswith(head))
    return parameters, norms


class Freezing:
    """``model.freeze=backbone`` until ``unfreeze_epoch`` (null: to the end): the backbone's
    parameters take no gradient and its batch-norm layers keep their statistics."""

    def __init__(self, model: Model, freeze: str, unfreeze_epoch: Optional[int], label: str,
                 sample, backbone_lr_scale: float = 1.0):
        self.model, self.active = model, freeze == "backbone"
        self.unfreeze_epoch = unfreeze_epoch
        self.backbone, self.norms = _backbone_of(model, label, sample)
        self.frozen = False  # as built: everything trains
        if self.active and not self.backbone:
            raise ConfigError(f"model.freeze=backbone: {label} has no backbone to freeze, only "
                              f"its head; freeze a model with layers before its head")
        if backbone_lr_scale != 1 and not self.backbone:
            raise ConfigError(f"optimizer.backbone_lr_scale={backbone_lr_scale:g}: {label} has "
                              f"no backbone to train more slowly, only its head; leave "
                              f"optimizer.backbone_lr_scale at 1")

    def at_epoch(self, epoch: int) -> bool:
        """Freeze or thaw for ``epoch``; whether what trains changed (DDP then wraps anew)."""
        frozen = self.active and (self.unfreeze_epoch is None or epoch <= self.unfreeze_epoch)
        if frozen == self.frozen:
            return False
        for parameter in self.backbone:
            parameter.requires_grad_(not frozen)
        self.model.frozen_norms = self.norms if frozen else ()
        self.frozen = frozen
        log.info(f"epoch {epoch}: the backbone is {'frozen' if frozen else 'trained too'}")
        return True
