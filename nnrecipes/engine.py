"""One training epoch and one evaluation: tensors in, metric dicts out.

Batches are cut from tensors already on the device with ``randperm``; there is no per-sample
DataLoader. Losses are summed on the device and read back once per epoch, so the host never waits
on the accelerator inside the loop.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Iterator, List, Optional

import torch
from torch import nn

from nnrecipes.tasks import LossFn, compute_metrics

# How often an accelerator's host waits to check the loss: rarely enough to keep the GPU busy.
CHECK_EVERY = 50


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


class LossNotFinite(Exception):
    """The training loss became NaN or infinite at ``step`` (counted from 1) of the epoch."""

    def __init__(self, step: int, lr: float, value: float):
        super().__init__(f"the loss became {value} at step {step} (lr {lr:.4g})")
        self.step, self.lr, self.value = step, lr, value


def _autocast(device: torch.device, dtype: Optional[torch.dtype]):
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)


def _check_finite(losses: torch.Tensor, start: int, end: int, lrs: List[float]) -> None:
    """Raise LossNotFinite for the first non-finite loss of steps [start, end); one host sync."""
    if bool(torch.isfinite(losses[start:end].sum())):
        return
    step = start + int((~torch.isfinite(losses[start:end])).nonzero()[0])
    raise LossNotFinite(step + 1, lrs[step], float(losses[step]))


def train_one_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    optimizer: torch.optim.Optimizer, loss_fn: LossFn, batch_size: int,
                    scheduler=None, grad_clip: Optional[float] = None,
                    on_step: Optional[Callable[[], None]] = None,
                    autocast: Optional[torch.dtype] = None,
                    should_stop: Optional[Callable[[], object]] = None) -> Dict[str, float]:
    """One pass over (x, y) in a random order; returns the mean training loss.

    ``autocast`` (e.g. torch.bfloat16) runs the forward pass in that precision; when
    ``should_stop()`` turns true after a step, StopRequested is raised. A NaN or infinite loss
    raises LossNotFinite: checked every step on CPU, every CHECK_EVERY steps on an accelerator.
    """
    model.train()
    # Per-step losses stay on the device; the host reads them only to check and at the end.
    losses = torch.zeros(math.ceil(len(y) / batch_size), device=x.device)
    sizes, lrs = [], []
    check_every = 1 if x.device.type == "cpu" else CHECK_EVERY
    for step, batch in enumerate(batch_indices(len(y), batch_size, x.device, shuffle=True)):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad(set_to_none=True)
        with _autocast(x.device, autocast):
            loss = loss_fn(model(x[batch]), y[batch])
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses[step] = loss.detach()
        sizes.append(len(batch))
        if (step + 1) % check_every == 0:
            _check_finite(losses, step + 1 - check_every, step + 1, lrs)
        if on_step is not None:
            on_step()
        if should_stop is not None and should_stop():
            raise StopRequested
    _check_finite(losses, len(sizes) - len(sizes) % check_every, len(sizes), lrs)
    weights = torch.tensor(sizes, device=x.device, dtype=losses.dtype)
    return {"loss": float((losses[:len(sizes)] * weights).sum()) / max(sum(sizes), 1)}


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
