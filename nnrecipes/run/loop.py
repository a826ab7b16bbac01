"""The epoch loop: train an epoch, validate, keep the best, write the epoch's files, stop early.

Reads the run's settings and parts (run/build.py), never the config.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from typing import Callable, Dict, Optional

import torch

from nnrecipes.core import console
from nnrecipes.records.checkpoint import serialised
from nnrecipes.run.build import Run
from nnrecipes.run.engine import LossNotFinite, StopRequested, evaluate, train_one_epoch
from nnrecipes.run.interrupt import Interrupted
from nnrecipes.run.saved_state import checkpoint_state
from nnrecipes.run.torchrun import launched

log = logging.getLogger("nnrecipes")
EpochHook = Callable[[int, Dict[str, float], str], None]
# An epoch's files are written when this many seconds have passed since they last were, and
# after the last epoch: an iris run's 100 epochs of a few milliseconds each spent nearly as long
# writing them, each with its fsync, as training (docs/benchmarks-archive.md). A run that is
# stopped or killed resumes from the epoch its last.pt holds, at most this long before, and
# replays the epochs after it exactly.
WRITE_EVERY_SECONDS = 1.0
clock = time.perf_counter


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def fit(run: Run, on_epoch_end: Optional[EpochHook] = None) -> None:
    """Train epoch by epoch, writing metrics and checkpoints as EpochFiles has them."""
    trainer, monitor, progress = run.parts.settings.trainer, run.parts.monitor, run.progress
    epochs, patience = trainer.epochs, trainer.patience
    if patience is not None and progress.bad_epochs >= patience:
        return  # a resumed run that had already stopped early: only its finish is missing
    files = EpochFiles(progress.epoch)
    for epoch in range(progress.epoch + 1, epochs + 1):
        row = _epoch(run, epoch, files.saved_epoch)
        improved = _improved(run, row)
        progress.epoch, progress.history = epoch, [*progress.history, row]
        shown = {key: value for key, value in row.items() if key != "epoch"}
        log.info(f"epoch {epoch}/{epochs}  {console.format_metrics(shown)}")
        if improved:
            progress.best_value, progress.best_epoch = row[monitor.column], epoch
            progress.bad_epochs = 0
        else:
            progress.bad_epochs += 1
        stopping = patience is not None and progress.bad_epochs >= patience
        files.after_epoch(run, improved, last=stopping or epoch == epochs)
        _report_epoch(run, files, on_epoch_end, row)
        if stopping:
            log.info(f"early stop: {monitor.column} has not improved for {patience} epochs")
            break


def _epoch(run: Run, epoch: int, saved_epoch: int) -> Dict[str, float]:
    """One epoch's row of metrics; a stop request or a loss gone NaN ends the run here."""
    parts = run.parts
    if parts.freezing is not None and parts.freezing.at_epoch(epoch) and parts.ranks.world_size > 1:
        parts.nets.rewrap(parts.data.train.x.device)
    try:
        return train_and_validate(run, epoch)
    except StopRequested:
        # last.pt holds the last epoch written; a resume replays the epochs after it exactly.
        number = run.stop_signal() or signal.SIGTERM  # or another process's signal
        again = "torchrun ... -m nnrecipes.cli" if launched() else "nnrun"
        raise Interrupted(number, f"interrupted by {signal.Signals(number).name} in epoch "
                                  f"{epoch}; {run.checkpoints / 'last.pt'} holds epoch "
                                  f"{saved_epoch}. Continue with: {again} resume={run.run_dir}"
                          ) from None
    except LossNotFinite as bad:
        raise TrainingDiverged(
            f"training diverged: the loss became {bad.value} in epoch {epoch}, step "
            f"{bad.step} (lr {bad.lr:.4g}); lower optimizer.lr or set trainer.grad_clip"
        ) from None


def train_and_validate(run: Run, epoch: int) -> Dict[str, float]:
    parts = run.parts
    settings, data = parts.settings, parts.data
    torch.manual_seed(settings.seed + epoch)  # the same batches and dropout after a resume
    started = time.perf_counter()
    lr = parts.optimizer.param_groups[0]["lr"]
    with console.epoch_progress(settings.trainer.progress, epoch, settings.epochs,
                                parts.steps_per_epoch) as step:
        train = train_one_epoch(parts.nets.stepping, data.train, parts.optimizer, parts.loss_fn,
                                run.epoch_plan(on_step=step))
    val = evaluate(parts.nets.evaluating, data.val.x, data.val.y, parts.eval_loss_fn, data.task,
                   settings.eval_batch_size, parts.autocast, run.threshold)
    return {"epoch": epoch, "lr": lr, "train_loss": train["loss"],
            **{f"val_{key}": value for key, value in val.items()},
            "seconds": round(time.perf_counter() - started, 3)}


def _improved(run: Run, row: Dict[str, float]) -> bool:
    """Better on the monitored metric, or level with it and lower in validation loss."""
    monitor = run.parts.monitor
    value, best = row[monitor.column], run.progress.best_value
    if best is None or math.isnan(best):
        return not math.isnan(value)
    delta = run.parts.settings.trainer.min_delta
    if monitor.minimised:
        return value < best - delta
    if value == best and monitor.metric != "loss":
        best_row = run.progress.history[run.progress.best_epoch - 1]
        return row["val_loss"] < best_row["val_loss"]
    return value > best + delta


class EpochFiles:
    """When an epoch's files (metrics.csv, last.pt and, for a best epoch, best.pt) are written,
    by the run's recorder on rank 0: after an epoch when WRITE_EVERY_SECONDS have passed since
    they last were, and after the last epoch. Until then a best epoch's checkpoint waits in
    memory, serialised."""

    def __init__(self, saved_epoch: int):
        self.saved_epoch = saved_epoch  # the epoch last.pt holds
        self.written_at = clock()
        self.waiting_best: Optional[bytes] = None

    def after_epoch(self, run: Run, improved: bool, last: bool) -> None:
        if not run.recorder.writes:  # the other processes hold the same state
            return
        now = clock()
        due = last or now - self.written_at >= WRITE_EVERY_SECONDS
        if not (due or improved):
            return
        state = serialised(checkpoint_state(run))
        if improved:
            self.waiting_best = state
        if due:
            self._write(run, state, now)

    def write_now(self, run: Run) -> None:
        """The run stops after this epoch: its files hold it."""
        if self.saved_epoch != run.progress.epoch:
            self._write(run, serialised(checkpoint_state(run)), self.written_at)

    def _write(self, run: Run, state: bytes, now: float) -> None:
        run.recorder.epoch_files(run.progress.history, self.waiting_best, state)
        self.saved_epoch, self.waiting_best, self.written_at = run.progress.epoch, None, now


def _report_epoch(run: Run, files: EpochFiles, on_epoch_end: Optional[EpochHook],
                  row: Dict[str, float]) -> None:
    """The trackers' row, then the caller's hook; a hook that stops the run (a pruned search
    trial) leaves the files of the epoch it stopped after."""
    run.recorder.epoch_row(row)
    if on_epoch_end is None or not run.recorder.writes:
        return
    try:
        on_epoch_end(run.progress.epoch, row, run.parts.monitor.column)
    except BaseException:
        files.write_now(run)
        raise
