"""One training epoch and one evaluation: tensors in, metric dicts out.

Batches are cut from tensors already on the device with ``randperm``; there is no per-sample
DataLoader. Losses are summed on the device and read back once per epoch, so the host never waits
on the accelerator inside the loop.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterator, Optional

import torch
from torch import nn

from nnrecipes.tasks import LossFn, compute_metrics


def batch_indices(n: int, batch_size: int, device: torch.device,
                  shuffle: bool) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, device=device) if shuffle else torch.arange(n, device=device)
    for start in range(0, n, batch_size):
        batch = order[start:start + batch_size]
        # A batch of one breaks batch norm in training; its sample is drawn again next epoch.
        if shuffle and len(batch) < 2:
            return
        yield batch


class StopRequested(Exception):
    """``should_stop`` asked the epoch to end early; the model holds a partial epoch."""


def _autocast(device: torch.device, dtype: Optional[torch.dtype]):
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)


def train_one_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    optimizer: torch.optim.Optimizer, loss_fn: LossFn, batch_size: int,
                    scheduler=None, grad_clip: Optional[float] = None,
                    on_step: Optional[Callable[[], None]] = None,
                    autocast: Optional[torch.dtype] = None,
                    should_stop: Optional[Callable[[], object]] = None) -> Dict[str, float]:
    """One pass over (x, y) in a random order; returns the mean training loss.

    ``autocast`` (e.g. torch.bfloat16) runs the forward pass in that precision; when
    ``should_stop()`` turns true after a step, StopRequested is raised.
    """
    model.train()
    total = torch.zeros((), device=x.device)
    seen = 0
    for batch in batch_indices(len(y), batch_size, x.device, shuffle=True):
        optimizer.zero_grad(set_to_none=True)
        with _autocast(x.device, autocast):
            loss = loss_fn(model(x[batch]), y[batch])
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.detach() * len(batch)
        seen += len(batch)
        if on_step is not None:
            on_step()
        if should_stop is not None and should_stop():
            raise StopRequested
    return {"loss": total.item() / max(seen, 1)}


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int,
            autocast: Optional[torch.dtype] = None) -> torch.Tensor:
    """Model outputs (float32) for every row of x, in order, on x's device."""
    model.eval()
    with _autocast(x.device, autocast):
        return torch.cat([model(x[batch]).float() for batch in
                          batch_indices(len(x), batch_size, x.device, shuffle=False)])


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, task: str,
             batch_size: int, autocast: Optional[torch.dtype] = None) -> Dict[str, float]:
    """Loss and task metrics of the model on (x, y)."""
    return score(predict(model, x, batch_size, autocast), y, loss_fn, task)


def score(outputs: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, task: str) -> Dict[str, float]:
    """Loss and task metrics of given model outputs against the targets."""
    with torch.inference_mode():
        loss = loss_fn(outputs, y).item()
    return {"loss": loss, **compute_metrics(task, outputs, y)}
