"""``train(cfg, run_dir)``: config -> data -> model -> epochs -> run directory. Orchestration only."""

from __future__ import annotations

import csv
import io
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from omegaconf import DictConfig

from nnrecipes import console, distributed
from nnrecipes.artifacts import (wants_baseline, wants_figures, write_model_summary,
                                 write_run_plots)
from nnrecipes.baseline import baseline_scores
from nnrecipes.checkpoint import load_checkpoint, save_checkpoint, write_atomically
from nnrecipes.data import image_data
from nnrecipes.explain import describe
from nnrecipes.engine import LossNotFinite, StopRequested, evaluate, predict, score, train_one_epoch
from nnrecipes.interrupt import Interrupted, stop_requests
from nnrecipes.loggers import open_loggers
from nnrecipes.resume import resumable_state, resumes_in_place
from nnrecipes.run import Run, build_run, checkpoint_state, prepare, restore, steps_per_epoch
from nnrecipes.provenance import command_line, environment_facts, environment_text
from nnrecipes.status import RunStatus, status_for, write_summary

log = logging.getLogger("nnrecipes")
# The files besides the figures that trackers keep with a completed run.
RECORDS = ("summary.json", "metrics.csv", "environment.txt", "model.txt", ".hydra/config.yaml")
EpochHook = Callable[[int, Dict[str, float], str], None]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def _write_metrics_csv(path: Path, history: List[Dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomically(path, buffer.getvalue().encode())


def _improved(run: Run, row: Dict[str, float]) -> bool:
    """Better on the monitored metric, or level with it and lower in validation loss."""
    value, best = row[run.monitor.column], run.progress.best_value
    if best is None or math.isnan(best):
        return not math.isnan(value)
    delta = run.cfg.trainer.min_delta
    if run.monitor.minimised:
        return value < best - delta
    if value == best and run.monitor.metric != "loss":
        best_row = run.progress.history[run.progress.best_epoch - 1]
        return row["val_loss"] < best_row["val_loss"]
    return value > best + delta


def train_and_validate(run: Run, epoch: int) -> Dict[str, float]:
    cfg, data = run.cfg, run.data
    torch.manual_seed(cfg.seed + epoch)  # the same batches and dropout after a resume
    started = time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    with console.epoch_progress(cfg.trainer.progress, epoch, cfg.trainer.epochs,
                                steps_per_epoch(cfg, data)) as step:
        train = train_one_epoch(run.train_model, data.train.x, data.train.y, run.optimizer,
                                run.loss_fn, cfg.dataset.batch_size, run.scheduler,
                                cfg.trainer.grad_clip, on_step=step, autocast=run.autocast,
                                should_stop=run.stop_signal, ranks=run.ranks,
                                min_batch=run.min_batch, augment=run.augment)
    val = evaluate(run.eval_model, data.val.x, data.val.y, run.eval_loss_fn, data.task,
                   cfg.dataset.eval_batch_size, run.autocast)
    return {"epoch": epoch, "lr": lr, "train_loss": train["loss"],
            **{f"val_{key}": value for key, value in val.items()},
            "seconds": round(time.perf_counter() - started, 3)}


def fit(run: Run, on_epoch_end: Optional[EpochHook] = None) -> None:
    """Train epoch by epoch, writing metrics and checkpoints after each one."""
    epochs, patience = run.cfg.trainer.epochs, run.cfg.trainer.patience
    if patience is not None and run.progress.bad_epochs >= patience:
        return  # a resumed run that had already stopped early: only its finish is missing
    for epoch in range(run.progress.epoch + 1, epochs + 1):
        try:
            row = train_and_validate(run, epoch)
        except StopRequested:
            # last.pt still holds the last complete epoch; a resume replays this one exactly.
            number = run.stop_signal() or signal.SIGTERM  # or another process's signal
            again = ("torchrun ... -m nnrecipes.cli" if distributed.launched() else "nnrun")
            raise Interrupted(number, f"interrupted by {signal.Signals(number).name} in epoch "
                                      f"{epoch}; {run.checkpoints / 'last.pt'} holds epoch "
                                      f"{epoch - 1}. Continue with: {again} resume={run.run_dir}"
                              ) from None
        except LossNotFinite as bad:
            raise TrainingDiverged(
                f"training diverged: the loss became {bad.value} in epoch {epoch}, step "
                f"{bad.step} (lr {bad.lr:.4g}); lower optimizer.lr or set trainer.grad_clip"
            ) from None
        progress = run.progress
        improved = _improved(run, row)
        progress.epoch, progress.history = epoch, [*progress.history, row]
        shown = {key: value for key, value in row.items() if key != "epoch"}
        log.info(f"epoch {epoch}/{epochs}  {console.format_metrics(shown)}")
        if improved:
            progress.best_value, progress.best_epoch = row[run.monitor.column], epoch
            progress.bad_epochs = 0
        else:
            progress.bad_epochs += 1
        if run.ranks.rank == 0:  # the other processes hold the same state and write nothing
            _write_epoch_files(run, improved, on_epoch_end, row)
        if patience is not None and progress.bad_epochs >= patience:
            log.info(f"early stop: {run.monitor.column} has not improved for {patience} epochs")
            break


def _write_epoch_files(run: Run, improved: bool, on_epoch_end: Optional[EpochHook],
                       row: Dict[str, float]) -> None:
    _write_metrics_csv(run.run_dir / "metrics.csv", run.progress.history)
    state = checkpoint_state(run)
    best = [run.checkpoints / "best.pt"] if improved else []
    save_checkpoint([*best, run.checkpoints / "last.pt"], state)
    run.loggers.epoch(row)
    if on_epoch_end is not None:
        on_epoch_end(run.progress.epoch, row, run.monitor.column)


def finish(run: Run, started: float, overrides: Sequence[str],
           job_of_a_sweep: bool = False) -> Dict[str, Any]:
    """Test the best epoch's weights, draw the figures, then write summary.json.

    The summary comes last, so "completed" means the folder holds everything; a stop or a
    failure before it leaves an "interrupted" or "failed" record, and a resume of the run tests
    and draws again without training.
    """
    best = load_checkpoint(run.checkpoints / "best.pt")
    run.model.load_state_dict(best["model"])
    data, cfg, progress = run.data, run.cfg, run.progress
    outputs = predict(run.eval_model, data.test.x, cfg.dataset.eval_batch_size, run.autocast)
    test = score(outputs, data.test.y, run.eval_loss_fn, data.task)
    _stop_if_asked(run, "testing")
    baseline = (baseline_scores(data, cfg.seed)
                if wants_baseline(cfg.trainer.baseline, image_data(data.input_shape)) else None)
    summary = {
        "status": RunStatus.completed,
        "dataset": cfg.dataset.name, "model": cfg.model.name, "task": data.task,
        "test": test,
        "monitor": run.monitor.column, "best_val": progress.best_value,
        "best_val_loss": progress.history[progress.best_epoch - 1]["val_loss"],
        "best_epoch": progress.best_epoch, "epochs_run": progress.epoch,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "train_seconds": round(sum(row["seconds"] for row in progress.history), 3),
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "samples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        **environment_facts(data.train.x.device, overrides),
        "overrides": list(overrides),
    }
    if baseline is not None:
        summary["baseline"] = baseline
    figures = []
    if wants_figures(cfg.trainer.plots, job_of_a_sweep):
        figures = write_run_plots(run.run_dir, data, progress.history, outputs)
        _stop_if_asked(run, "drawing the figures")
    write_summary(run.run_dir, summary)
    records = [run.run_dir / name for name in RECORDS if (run.run_dir / name).is_file()]
    run.loggers.completed(summary, [*figures, *records])
    return summary


def _stop_if_asked(run: Run, stage: str) -> None:
    number = run.stop_signal()
    if number:
        raise Interrupted(number, f"interrupted by {signal.Signals(number).name} while {stage}, "
                                  f"after training ended. Test and draw without training: "
                                  f"nnrun resume={run.run_dir}")


def record_failure(run_dir: Path, error: BaseException, overrides: Sequence[str]) -> None:
    """summary.json for a run that did not complete, so sweeps and scripts can tell why."""
    try:
        write_summary(Path(run_dir), {
            "status": status_for(error), "error": describe(error),
            "error_type": type(error).__name__, "command": command_line(overrides),
            "overrides": list(overrides)})
    except OSError as unwritable:  # the folder itself may be what failed: report the first error
        log.warning(f"could not record the failure in {run_dir}: {unwritable.strerror}")


def train(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = (),
          on_epoch_end: Optional[EpochHook] = None,
          on_accepted: Optional[Callable[[], None]] = None,
          parent_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Train the model that ``cfg`` describes, leaving everything in ``run_dir``.

    ``overrides`` are the command-line overrides that composed ``cfg``, kept for the record;
    ``on_epoch_end(epoch, metrics_row, monitor)`` runs after each epoch's checkpoint. A run that
    resumes in its own folder leaves it byte for byte as it was until its checkpoint, config and
    data are accepted; then ``on_accepted()`` runs (cli rewrites the folder's record). Under
    torchrun every process trains its share of each batch; only rank 0 writes ``run_dir`` and
    returns the summary (the others return {}). ``parent_dir`` is the sweep or search folder
    the run is a job of, for the loggers that group jobs.
    """
    started = time.perf_counter()
    accepted = not resumes_in_place(cfg, run_dir)  # a new folder is this run's from the start
    run: Optional[Run] = None
    try:
        device = prepare(cfg)
        saved = resumable_state(cfg) if cfg.resume else None
        # Signals are requests to stop from here to the summary: testing and drawing included.
        with stop_requests() as stop_signal:
            with distributed.process_group(device) as ranks:
                run = build_run(cfg, Path(run_dir), device, ranks)
                if saved is not None:
                    restore(run, saved)
                accepted = True
                if on_accepted is not None and run.ranks.rank == 0:
                    on_accepted()
                _announce(run, device)
                run.stop_signal = stop_signal
                if run.ranks.rank == 0:
                    _start_records(run, parent_dir)
                fit(run, on_epoch_end)
            summary = (finish(run, started, overrides, job_of_a_sweep=parent_dir is not None)
                       if ranks.rank == 0 else {})
    except Exception as error:
        if distributed.rank() == 0 and accepted:
            record_failure(run_dir, error, overrides)
        if run is not None:
            run.loggers.ended(status_for(error).value)
        raise
    if summary:
        log.info(f"test  {console.format_metrics(summary['test'])}")
    return summary


def _start_records(run: Run, parent_dir: Optional[Path]) -> None:
    """environment.txt, then the chosen loggers (a resumed run's pick up after its history)."""
    write_atomically(run.run_dir / "environment.txt", environment_text().encode())
    run.loggers = open_loggers(run.cfg, run.run_dir, parent_dir, run.progress.history)


def _announce(run: Run, device: torch.device) -> None:
    data, cfg = run.data, run.cfg
    processes = f" x {run.ranks.world_size} processes" if run.ranks.world_size > 1 else ""
    log.info(f"{cfg.dataset.name} ({data.task}, {len(data.train)} train / {len(data.val)} val / "
             f"{len(data.test)} test) -> {cfg.model.name} on {device}{processes}; "
             f"run directory {run.run_dir}")
    if run.ranks.rank == 0:
        log.info(write_model_summary(run.model, data.train.x[:2], run.run_dir))
