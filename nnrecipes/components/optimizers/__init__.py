"""``optimizer=...``: each module here declares an optimizer, its schema's keys being the keywords
of the same name of its torch class; ``build_optimizer`` builds the chosen one.

``fused_on`` (a declaration's trait): the device types where torch has a fused kernel for it (one
kernel per step for all parameters instead of several per tensor: on 2 CPU cores an AdamW step
over the fast Fashion-MNIST preset's 625,530 weights takes 0.4 ms instead of 5.5 ms).
"""

from __future__ import annotations

from typing import Iterable

import torch
from omegaconf import OmegaConf

from nnrecipes.core.registry import component

CPU_AND_CUDA = ("cpu", "cuda")
# Keys every optimizer has that are not its torch class's keywords (build_optimizer applies them).
RUN_KEYS = ("name", "backbone_lr_scale")


def optimizer_keywords(cfg) -> dict:
    """The torch optimizer's keywords that ``cfg`` (the optimizer config) sets."""
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in OmegaConf.to_container(cfg, resolve=True).items()
            if key not in RUN_KEYS}


def build_optimizer(cfg, parameters, device: torch.device = torch.device("cpu"),
                    backbone: Iterable[torch.Tensor] = ()) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names, with torch's fused kernel where it has one for ``device``.

    The ``backbone`` parameters (all but the model's head) take ``lr`` times
    ``optimizer.backbone_lr_scale``, in a second parameter group after the head's; at a scale
    of 1 every parameter is in one group, as for a model without a backbone.
    """
    item = component("optimizer", cfg.name)
    keys = optimizer_keywords(cfg)
    parameters = list(parameters)
    # torch's fused kernels take real floating-point tensors only (a user's model may hold
    # complex ones); the others fall back to the per-tensor implementation.
    if (device.type in item.trait("fused_on", ())
            and all(torch.is_floating_point(p) for p in parameters)):
        keys["fused"] = True
    slower = {id(p) for p in backbone} if cfg.get("backbone_lr_scale", 1.0) != 1.0 else set()
    if not slower:
        return item.build(parameters, **keys)
    groups = [{"params": [p for p in parameters if id(p) not in slower]},
              {"params": [p for p in parameters if id(p) in slower],
               "lr": cfg.lr * cfg.backbone_lr_scale}]
    return item.build(groups, **keys)
