"""One training epoch and one evaluation: tensors in, metric dicts out.

Batches are cut from tensors already on the device with ``randperm``; there is no per-sample
DataLoader. Losses are summed on the device and read back once per epoch, so the host never waits
on the accelerator inside the loop.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import nn

from nnrecipes.core.config import TrainerConfig
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


@dataclass(frozen=True, kw_only=True)
class EpochPlan:
    """How an epoch's training steps are taken.

    ``autocast`` (e.g. torch.bfloat16) runs the forward pass in that precision. With several
    ``ranks``, each takes every world_size-th sample of each batch of ``batch_size``, and the
    loss is scaled so that DDP's averaged gradient is the whole batch's. A last batch of fewer
    than ``min_batch`` samples (see ``smallest_batch``) is skipped. ``augment`` maps each batch
    of inputs to an augmented one (the targets stay as they are). When ``should_stop()`` turns
    true, StopRequested is raised; ``on_step()`` is called after each step (a progress bar).
    With ``accumulate`` K, each optimizer step sums the gradients of K batches (the step of
    one batch K times larger); the schedule counts optimizer steps.
    """

    batch_size: int
    scheduler: Any = None
    autocast: Optional[torch.dtype] = None
    ranks: Ranks = SINGLE_PROCESS
    min_batch: int = 1
    augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    should_stop: Optional[Callable[[], object]] = None
    on_step: Optional[Callable[[], None]] = None
    # The trainer.* options as their schema declares them: grad_clip, accumulate (batches
    # whose gradients make one optimizer step), and whatever else a step reads.
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    after_step: Optional[Callable[[], None]] = None  # after each optimizer step (the EMA)
    scaler: Any = None  # fp16's gradient scaler (torch.amp.GradScaler), or None


def train_one_epoch(model: nn.Module, split, optimizer: torch.optim.Optimizer, loss_fn: LossFn,
                    plan: EpochPlan) -> Dict[str, float]:
    """One pass over ``split`` (its x and y) in a random order; returns the mean training loss.

    A NaN or infinite loss raises LossNotFinite, a stop request StopRequested: both are checked
    every step on CPU, every CHECK_EVERY steps on an accelerator.
    """
    x, y, ranks = split.x, split.y, plan.ranks
    model.train()
    # Per-step loss sums stay on the device; the host reads them only at the checks.
    losses = torch.zeros(math.ceil(len(y) / (plan.batch_size * plan.trainer.accumulate)),
                         device=x.device)
    seen, lrs, checked = 0, [], 0
    check_every = 1 if x.device.type == "cpu" else CHECK_EVERY
    batches = batch_indices(len(y), plan.batch_size, x.device, True, plan.min_batch)
    if hasattr(x, "read_ahead"):  # pictures read from their file (data/file_images.py)
        batches = x.read_ahead(batches, ranks.rank, ranks.world_size)
    for step, group in enumerate(_groups(batches, plan.trainer.accumulate)):
        lrs.append(optimizer.param_groups[0]["lr"])
        losses[step], samples = _step(model, split, group, optimizer, loss_fn, plan)
        seen += samples
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


def train_step(model: nn.Module, split, batch: torch.Tensor, optimizer: torch.optim.Optimizer,
               loss_fn: LossFn, plan: EpochPlan) -> float:
    """One optimizer step on one batch of ``split`` (a learning-rate range test's); its mean
    loss (a host sync)."""
    model.train()
    summed, seen = _step(model, split, [batch], optimizer, loss_fn, plan)
    return float(summed) / max(seen, 1)


def _groups(batches: Iterator[torch.Tensor], size: int) -> Iterator[List[torch.Tensor]]:
    """The batches of each optimizer step: ``size`` at a time (the last group may be fewer)."""
    group: List[torch.Tensor] = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _step(model: nn.Module, split, group: List[torch.Tensor], optimizer: torch.optim.Optimizer,
          loss_fn: LossFn, plan: EpochPlan) -> Tuple[torch.Tensor, int]:
    """One optimizer step on this process's share of a group of batches: their gradients
    summed, each batch's loss weighted by its share of the group's samples, so the step is
    the one a single batch of them all would take. Returns this process's summed loss (of
    its samples) and how many samples it saw."""
    ranks = plan.ranks
    optimizer.zero_grad(set_to_none=True)
    samples = sum(len(batch) for batch in group)
    summed, mine_total = torch.zeros((), device=split.x.device), 0
    for index, batch in enumerate(group):
        mine = batch[ranks.rank::ranks.world_size]
        inputs = split.x[mine] if plan.augment is None else plan.augment(split.x[mine])
        # DDP averages gradients at each backward; the group's last one is enough.
        last = index == len(group) - 1
        scale = len(mine) * ranks.world_size / samples
        with contextlib.nullcontext() if last or not hasattr(model, "no_sync") \
                else model.no_sync():
            with _autocast(inputs.device, plan.autocast):
                loss = loss_fn(model(inputs), split.y[mine])
            scaled = loss * scale if scale != 1 else loss
            (plan.scaler.scale(scaled) if plan.scaler is not None else scaled).backward()
        summed = summed + loss.detach() * len(mine)
        mine_total += len(mine)
    _optimizer_step(model, optimizer, plan)
    if plan.after_step is not None:
        plan.after_step()
    if plan.scheduler is not None:
        plan.scheduler.step()
    return summed, mine_total


def _optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, plan: EpochPlan) -> None:
    """The step, its gradients clipped first; with fp16's scaler, unscaled before clipping, and
    skipped (the scale lowered) where they overflowed."""
    if plan.scaler is not None and plan.trainer.grad_clip is not None:
        plan.scaler.unscale_(optimizer)
    if plan.trainer.grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), plan.trainer.grad_clip)
    if plan.scaler is None:
        optimizer.step()
        return
    plan.scaler.step(optimizer)
    plan.scaler.update()


def smallest_batch(model: nn.Module, ranks: Ranks = SINGLE_PROCESS) -> int:
    """The fewest samples a training batch may hold: batch norm needs two, each process one."""
    norm = any(isinstance(layer, nn.modules.batchnorm._BatchNorm) for layer in model.modules())
    return max(2 if norm else 1, ranks.world_size)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int,
            autocast: Optional[torch.dtype] = None) -> torch.Tensor:
    """Model outputs (float32) for every row of x, in order, on x's device."""
    model.eval()
    batches = batch_indices(len(x), _evaluation_batch(x, batch_size), x.device, shuffle=False)
    if hasattr(x, "read_ahead"):  # pictures read from their file (data/file_images.py)
        batches = x.read_ahead(batches)
    outputs, done = None, 0
    with _autocast(x.device, autocast):
        for batch in batches:
            output = model(x[batch]).float()
            if outputs is None:
                outputs = torch.empty((len(x), *output.shape[1:]), device=output.device)
            # Copied into one tensor made once: each batch's outputs kept as they came would
            # pin a few bytes amid the freed activations, and malloc's heap grow by a batch's
            # worth of them each time (predicting 3,900 pictures of 224 px took 2.5 GiB more).
            outputs[done:done + len(output)] = output
            done += len(output)
    return outputs if outputs is not None else torch.empty((0,), device=x.device)


# Evaluation batches are capped at this many bytes of input as float32 times ACTIVATION_RATIO
# (a layer's output and the next's are alive at once, each a few times the input): 1024
# pictures of 224 px would take GiBs; tables and small pictures keep dataset.eval_batch_size.
EVALUATION_BYTES, ACTIVATION_RATIO = 64 * 2**20, 8


def _evaluation_batch(x, batch_size: int) -> int:
    per_sample = 4 * ACTIVATION_RATIO * math.prod(x.shape[1:])
    return max(1, min(batch_size, EVALUATION_BYTES // per_sample))


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
