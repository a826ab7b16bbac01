"""The chosen network tried before it exists: built on PyTorch's meta device (shapes, no memory)
and run on a batch of the data's real input size, so that an image size it cannot take, or a
network or batch larger than the memory the run may use, is refused in words before anything is
allocated, instead of ending in a shape error of some layer or in the allocator's failure."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch
from torch import nn

from nnrecipes.core.config import ConfigError

# Bytes a trained parameter holds: its weights, gradient and two optimizer moments (Adam's), in
# float32; an activation is kept for the backward pass and met again by its gradient.
BYTES_PER_PARAMETER, BYTES_PER_ACTIVATION = 16, 8
# Sizes tried to say which image size a network that refuses the data's can take.
TRIED_SIZES = (16, 32, 64, 75, 128, 224, 299)


@contextmanager
def _on_meta() -> Iterator[None]:
    with torch.device("meta"):
        yield


def probe(build, input_shape: Tuple[int, ...], batch_size: int, label: str,
          available: Optional[int], size_keys: str, seen: Optional[int] = None) -> None:
    """``build(input_shape)`` (a network for inputs of that shape, built without reading
    weights) on the meta device: run on a batch of ``input_shape``, and its memory for training
    set against ``available`` bytes. ``size_keys``: the settings that make it smaller;
    ``seen``: the size images are resized to inside the network, where it does."""
    try:
        with _on_meta():
            network = build(input_shape).to("meta")
    except Exception:  # noqa: BLE001 - built for real next, which says what is wrong with it
        return
    parameters = sum(parameter.numel() for parameter in network.parameters())
    activations = _activations(network, input_shape, batch_size)
    if activations is None:
        _refuse_size(build, input_shape, label, seen)
        return
    needed = parameters * BYTES_PER_PARAMETER + activations * BYTES_PER_ACTIVATION
    if available is not None and needed > available:
        raise ConfigError(f"{label} would need about {needed / 2**30:.1f} GiB to train "
                          f"({parameters:,} parameters, {activations:,} activations in a batch "
                          f"of {batch_size}), more than the {available / 2**30:.1f} GiB of "
                          f"memory this run may use; make it smaller ({size_keys})")


def _activations(network: nn.Module, input_shape: Tuple[int, ...],
                 batch_size: int) -> Optional[int]:
    """Numbers every leaf layer outputs for a batch; None if the network cannot run it."""
    counted = []

    def count(layer, inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            counted.append(output.numel())

    hooks = [module.register_forward_hook(count) for module in network.modules()
             if not list(module.children())]
    try:
        with torch.no_grad():
            network(torch.empty((batch_size, *input_shape), device="meta"))
    except Exception:  # noqa: BLE001 - said by _refuse_size, or by the real check
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return sum(counted)


def _refuse_size(build, input_shape: Tuple[int, ...], label: str, seen: Optional[int]) -> None:
    """A network that cannot run the data's images but runs larger ones: the size it needs.
    Anything else is left to the real build and check, which name it."""
    if len(input_shape) != 3:
        return
    height, width = (seen, seen) if seen else input_shape[1:]
    for size in (size for size in TRIED_SIZES if size > min(height, width)):
        try:
            with _on_meta():
                network = build((input_shape[0], size, size)).to("meta")
                with torch.no_grad():
                    network(torch.empty((2, input_shape[0], size, size), device="meta"))
        except Exception:  # noqa: BLE001 - not this size either
            continue
        raise ConfigError(f"{label} cannot take {height}x{width} images: its layers shrink them "
                          f"to nothing before its head; it takes {size}x{size} (set "
                          f"dataset.image_size={size}, or model.image_size={size} where the "
                          f"model has that key)")
