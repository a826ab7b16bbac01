"""The network against the machine it trains on, before training: tried on the meta device
for the image size it takes and the memory it needs (components/models/probe.py), and given the
CPU threads its work keeps busy (run/devices.py)."""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig, OmegaConf

from nnrecipes.components.models import build_model, weights_left_unread
from nnrecipes.components.models.probe import probe
from nnrecipes.data import DataBundle, image_data
from nnrecipes.run.devices import forward_flops, memory_for, threads_for_work

log = logging.getLogger("nnrecipes")


def probe_model(model_cfg: DictConfig, data: DataBundle, batch_size: int, label: str,
                device: torch.device) -> None:
    """The model tried on the meta device before it is built (components/models/probe.py)."""
    def build(shape):
        keys = model_cfg
        if tuple(shape) != tuple(data.input_shape) and model_cfg.get("image_size") is not None:
            keys = model_cfg.copy()
            keys.image_size = shape[-1]
        with weights_left_unread():
            return build_model(keys, tuple(shape), data.num_outputs, data.stats)

    images = image_data(data.input_shape)
    sizes = [f"model.{key}" for key, value in OmegaConf.to_container(model_cfg).items()
             if isinstance(value, list) or (key == "image_size" and images)]
    probe(build, tuple(data.input_shape), min(batch_size, len(data.train)), label,
          memory_for(device), ", ".join([*sizes, "dataset.batch_size",
                                         *(["dataset.image_size"] if images else [])]),
          seen=model_cfg.get("image_size"))


def fit_threads(model: torch.nn.Module, data: DataBundle, batch_size: int,
                device: torch.device) -> None:
    """The CPU threads a training batch keeps busy, for a run that left device.threads unset."""
    flops = forward_flops(model, data.train.x[:2])
    per_batch = None if flops is None else flops / 2 * min(batch_size, len(data.train))
    threads, default = threads_for_work(per_batch, device)
    if threads < default:
        log.info(f"device.threads={threads}: {per_batch / 1e6:.3g} MFLOP a batch keeps "
                 f"{threads} thread{'s' * (threads > 1)} busy (set device.threads to choose)")
