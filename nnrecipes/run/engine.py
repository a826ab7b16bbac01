"""One training epoch and one evaluation: tensors in, metric dicts out.

Batches are cut from tensors already on the device with ``randperm``; there is no per-sample
DataLoader. Losses are summed on the device and read back once per epoch, so the host never waits
on the accelerator inside the loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch
from torch import nn

from nnrecipes.core.task import LossFn, Task, compute_metrics

# How often an accelerator's host waits to check the loss: rarely enough to keep the GPU busy.
CHECK_EVERY = 50


@dataclass(frozen=True)
class Ranks:
    """The processes that share each batch: this one's rank, their number, and a sum over them."""

    rank: int
    world_size: int
    sum_across: Callable[[torch.Tensor], None]  # in place; a no-op for a single process


SINGLE_PROCESS = Ranks(0, 1, lambda tensor: None)


def batch_indices(n: int, batch_size: int, device: torch.device, shuffle: bool,
                  min_size: int = 1) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, device=device) if shuffle else torch.arange(n, device=device)
    for start in range(0, n, batch_size):
        batch = order[start:start + batch_size]
        # A last batch smaller than min_size (two for batch norm, one sample per process) is
        # dropped in training; its samples are drawn again next epoch.
        if shuffle and len(batch) < min_size:
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


def _agree(losses: torch.Tensor, start: int, end: int, stop: bool, lrs: List[float],
           ranks: Ranks) -> bool:
    """Every process learns of a NaN/inf loss or a stop request of any other, at the same step.

    Raises LossNotFinite for the first non-finite loss of steps [start, end); returns whether
    any process asked to stop. One host sync (and one small all-reduce) per call.
    """
    values = losses[start:end]
    if ranks.world_size > 1:
        flag = torch.tensor([float(stop)], device=losses.device)
        shared = torch.cat([values, flag])
        ranks.sum_across(shared)
        values, stop = shared[:-1], bool(shared[-1] > 0)
    if not bool(torch.isfinite(values).all()):
        step = start + int((~torch.isfinite(values)).nonzero()[0])
        raise LossNotFinite(step + 1, lrs[step], float(values[step - start]))
    return stop


@dataclass(frozen=True)
class EpochPlan:
    """How an epoch's training steps are taken.

    ``autocast`` (e.g. torch.bfloat16) runs the forward pass in that precision. With several
    ``ranks``, each takes every world_size-th sample of each batch of ``batch_size``, and the
    loss is scaled so that DDP's averaged gradient is the whole batch's. A last batch of fewer
    than ``min_batch`` samples (see ``smallest_batch``) is skipped. ``augment`` maps each batch
    of inputs to an augmented one (the targets stay as they are). When ``should_stop()`` turns
    true, StopRequested is raised; ``on_step()`` is called after each step (a progress bar).
    """

    batch_size: int
    scheduler: Any = None
    grad_clip: Optional[float] = None
    autocast: Optional[torch.dtype] = None
    ranks: Ranks = SINGLE_PROCESS
    min_batch: int = 1
    augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    should_stop: Optional[Callable[[], object]] = None
    on_step: Optional[Callable[[], None]] = None


def train_one_epoch(model: nn.Module, split, optimizer: torch.optim.Optimizer, loss_fn: LossFn,
                    plan: EpochPlan) -> Dict[str, float]:
    """One pass over ``split`` (its x and y) in a random order; returns the mean training loss.

    A NaN or infinite loss raises LossNotFinite, a stop request StopRequested: both are checked
    every step on CPU, every CHECK_EVERY steps on an accelerator.
    """
    x, y, ranks = split.x, split.y, plan.ranks
    model.train()
    # Per-step loss sums stay on the device; the host reads them only at the checks.
    losses = torch.zeros(math.ceil(len(y) / plan.batch_size), device=x.device)
    seen, lrs, checked = 0, [], 0
    check_every = 1 if x.device.type == "cpu" else CHECK_EVERY
    for step, batch in enumerate(batch_indices(len(y), plan.batch_size, x.device, True,
                                               plan.min_batch)):
        lrs.append(optimizer.param_groups[0]["lr"])
        mine = batch[ranks.rank::ranks.world_size]
        loss = _step(model, x[mine], y[mine], optimizer, loss_fn, plan,
                     len(mine) * ranks.world_size / len(batch))
        losses[step] = loss.detach() * len(mine)
        seen += len(mine)
        if plan.on_step is not None:
            plan.on_step()
        if (step + 1) % check_every == 0:
            stop = plan.should_stop is not None and bool(plan.should_stop())
            checked = step + 1
            if _agree(losses, checked - check_every, checked, stop, lrs, ranks):
                raise StopRequested
    _agree(losses, checked, len(lrs), False, lrs, ranks)
    total = torch.stack([losses[:len(lrs)].sum(), torch.tensor(float(seen), device=x.device)])
    ranks.sum_across(total)
    return {"loss": float(total[0]) / max(float(total[1]), 1.0)}


def _step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
          optimizer: torch.optim.Optimizer, loss_fn: LossFn, plan: EpochPlan,
          scale: float) -> torch.Tensor:
    """One optimizer step on this process's share of a batch; returns its loss."""
    optimizer.zero_grad(set_to_none=True)
    if plan.augment is not None:
        inputs = plan.augment(inputs)
    with _autocast(inputs.device, plan.autocast):
        loss = loss_fn(model(inputs), targets)
    (loss * scale if scale != 1 else loss).backward()
    if plan.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), plan.grad_clip)
    optimizer.step()
    if plan.scheduler is not None:
        plan.scheduler.step()
    return loss


def smallest_batch(model: nn.Module, ranks: Ranks = SINGLE_PROCESS) -> int:
    """The fewest samples a training batch may hold: batch norm needs two, each process one."""
    norm = any(isinstance(layer, nn.modules.batchnorm._BatchNorm) for layer in model.modules())
    return max(2 if norm else 1, ranks.world_size)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int,
            autocast: Optional[torch.dtype] = None) -> torch.Tensor:
    """Model outputs (float32) for every row of x, in order, on x's device."""
    model.eval()
    with _autocast(x.device, autocast):
        return torch.cat([model(x[batch]).float() for batch in
                          batch_indices(len(x), batch_size, x.device, shuffle=False)])


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, task: Task,
             batch_size: int, autocast: Optional[torch.dtype] = None,
             threshold: float = 0.5) -> Dict[str, float]:
    """Loss and task metrics of the model on (x, y)."""
    return score(predict(model, x, batch_size, autocast), y, loss_fn, task, threshold)


def score(outputs: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, task: Task,
          threshold: float = 0.5) -> Dict[str, float]:
    """Loss and task metrics of given model outputs against the targets (binary labels at
    ``threshold``)."""
    with torch.inference_mode():
        loss = loss_fn(outputs, y).item()
    return {"loss": loss, **compute_metrics(task, outputs, y, threshold)}
