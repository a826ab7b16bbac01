"""``optimizer=...``: each module here declares an optimizer, its schema's keys being the keywords
of the same name of its torch class; ``build_optimizer`` builds the chosen one.

``fused_on`` (a declaration's trait): the device types where torch has a fused kernel for it (one
kernel per step for all parameters instead of several per tensor: on 2 CPU cores an AdamW step
over the fast Fashion-MNIST preset's 625,530 weights takes 0.4 ms instead of 5.5 ms).
"""

from __future__ import annotations

import torch
from omegaconf import OmegaConf

from nnrecipes.core.registry import component

CPU_AND_CUDA = ("cpu", "cuda")


def optimizer_keywords(cfg) -> dict:
    """The torch optimizer's keywords that ``cfg`` (the optimizer config) sets."""
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in OmegaConf.to_container(cfg, resolve=True).items() if key != "name"}


def build_optimizer(cfg, parameters, device: torch.device = torch.device("cpu")
                    ) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names, with torch's fused kernel where it has one for ``device``."""
    item = component("optimizer", cfg.name)
    keys = optimizer_keywords(cfg)
    parameters = list(parameters)
    # torch's fused kernels take real floating-point tensors only (a user's model may hold
    # complex ones); the others fall back to the per-tensor implementation.
    if (device.type in item.trait("fused_on", ())
            and all(torch.is_floating_point(p) for p in parameters)):
        keys["fused"] = True
    return item.build(parameters, **keys)
