"""``train(cfg, run_dir)``: config -> data -> model -> epochs -> run directory. Orchestration only."""

from __future__ import annotations

import csv
import io
import logging
import math
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from nnrecipes import console
from nnrecipes.checkpoint import (CheckpointError, load_checkpoint, save_checkpoint,
                                  write_atomically, write_json)
from nnrecipes.config import ConfigError
from nnrecipes.validation import validate
from nnrecipes.data import DataBundle, build_data, dataset_spec
from nnrecipes.devices import resolve_device
from nnrecipes.artifacts import wants_baseline, write_model_summary, write_run_plots
from nnrecipes.baseline import baseline_scores
from nnrecipes.engine import (LossNotFinite, StopRequested, evaluate, predict, score,
                              train_one_epoch)
from nnrecipes.interrupt import Interrupted, stop_requests
from nnrecipes.models import build_model, check_model_fits_data
from nnrecipes.optim import build_optimizer, build_scheduler
from nnrecipes.resume import resumable_state, resumes_in_place
from nnrecipes.run_info import command_line, run_facts
from nnrecipes.tasks import TASK_METRICS, default_monitor, make_loss, minimised

log = logging.getLogger("nnrecipes")
EpochHook = Callable[[int, Dict[str, float], str], None]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class Progress:
    """Everything about the loop that a resumed run must pick up again."""

    epoch: int = 0  # epochs completed
    best_value: Optional[float] = None
    best_epoch: int = 0
    bad_epochs: int = 0
    history: List[Dict[str, float]] = field(default_factory=list)


@dataclass
class Run:
    cfg: DictConfig
    run_dir: Path
    data: DataBundle
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss_fn: Any  # training loss (label smoothing applied)
    eval_loss_fn: Any
    monitor: str
    autocast: Optional[torch.dtype] = None
    # The module that runs the steps: the model itself, or its torch.compile wrapper.
    step_model: Optional[torch.nn.Module] = None
    # Returns the signal that asked training to stop, or None.
    stop_signal: Callable[[], Optional[int]] = lambda: None
    progress: Progress = field(default_factory=Progress)

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"


def steps_per_epoch(cfg: DictConfig, data: DataBundle) -> int:
    return math.ceil(len(data.train) / cfg.dataset.batch_size)


def prepare(cfg: DictConfig) -> torch.device:
    """Checks that need no data, so a bad config fails before any time is spent."""
    validate(cfg)
    spec = dataset_spec(cfg.dataset.name)
    check_model_fits_data(cfg.model.name, cfg.dataset.name, spec.image)
    # Checkpoints must find the data again from any working directory.
    cfg.dataset.data_dir = str(Path(cfg.dataset.data_dir).expanduser().resolve())
    return resolve_device(cfg.device.name, cfg.device.threads)


def _monitor(cfg: DictConfig, task: str) -> str:
    name = default_monitor(task) if cfg.trainer.monitor == "auto" else cfg.trainer.monitor
    allowed = ("loss", *TASK_METRICS[task])
    if name not in allowed:
        raise ConfigError(f"trainer.monitor={name!r} is not a {task} metric; "
                          f"allowed: auto, {', '.join(allowed)}")
    return name


def build_run(cfg: DictConfig, run_dir: Path, device: torch.device) -> Run:
    torch.manual_seed(cfg.seed)
    data = build_data(cfg, device)
    monitor = _monitor(cfg, data.task)
    model = build_model(cfg.model, data.input_shape, data.num_outputs, data.stats).to(device)
    if len(data.input_shape) == 3:
        # Convolutions run markedly faster in channels-last layout, on CPU as on GPU.
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), device)
    scheduler = build_scheduler(cfg.scheduler, optimizer, cfg.trainer.epochs,
                                steps_per_epoch(cfg, data))
    return Run(cfg, run_dir, data, model, optimizer, scheduler,
               loss_fn=make_loss(data.task, data.stats, cfg.trainer.label_smoothing),
               eval_loss_fn=make_loss(data.task, data.stats), monitor=monitor,
               autocast=autocast_dtype(cfg.trainer.precision, device),
               step_model=torch.compile(model) if cfg.trainer.compile else model)


def autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """bf16 autocast on CUDA by default (where the GPU has it); plain float32 elsewhere."""
    if precision == "auto":
        bf16_gpu = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16_gpu else None
    return torch.bfloat16 if precision == "bf16" else None


def _checkpoint_state(run: Run) -> Dict[str, Any]:
    data = run.data
    return {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "progress": asdict(run.progress),
        "config": OmegaConf.to_container(run.cfg, resolve=True, enum_to_str=True),
        "model_spec": {"input_shape": list(data.input_shape), "num_outputs": data.num_outputs,
                       "task": data.task},
        "stats": data.stats,
        "class_names": data.class_names,
    }


def restore(run: Run, saved: Dict[str, Any]) -> None:
    """Continue from a checkpoint that resumable_state found to fit this run."""
    run.model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    if run.scheduler is not None and saved["scheduler"] is not None:
        run.scheduler.load_state_dict(saved["scheduler"])
    run.progress = Progress(**saved["progress"])
    log.info(f"resumed from {saved['path']} after epoch {run.progress.epoch}")


def _write_metrics_csv(path: Path, history: List[Dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomically(path, buffer.getvalue().encode())


def _improved(run: Run, row: Dict[str, float]) -> bool:
    """Better on the monitored metric, or level with it and lower in validation loss."""
    value, best = row[f"val_{run.monitor}"], run.progress.best_value
    if best is None or math.isnan(best):
        return not math.isnan(value)
    delta = run.cfg.trainer.min_delta
    if minimised(run.monitor):
        return value < best - delta
    if value == best and run.monitor != "loss":
        best_row = run.progress.history[run.progress.best_epoch - 1]
        return row["val_loss"] < best_row["val_loss"]
    return value > best + delta


def run_epoch(run: Run, epoch: int) -> Dict[str, float]:
    cfg, data = run.cfg, run.data
    torch.manual_seed(cfg.seed + epoch)  # the same batches and dropout after a resume
    started = time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    with console.epoch_progress(cfg.trainer.progress, epoch, cfg.trainer.epochs,
                                steps_per_epoch(cfg, data)) as step:
        train = train_one_epoch(run.step_model, data.train.x, data.train.y, run.optimizer,
                                run.loss_fn, cfg.dataset.batch_size, run.scheduler,
                                cfg.trainer.grad_clip, on_step=step, autocast=run.autocast,
                                should_stop=run.stop_signal)
    val = evaluate(run.step_model, data.val.x, data.val.y, run.eval_loss_fn, data.task,
                   cfg.dataset.eval_batch_size, run.autocast)
    return {"epoch": epoch, "lr": lr, "train_loss": train["loss"],
            **{f"val_{key}": value for key, value in val.items()},
            "seconds": round(time.perf_counter() - started, 3)}


def fit(run: Run, on_epoch_end: Optional[EpochHook] = None) -> None:
    """Train epoch by epoch, writing metrics and checkpoints after each one."""
    epochs, patience = run.cfg.trainer.epochs, run.cfg.trainer.patience
    for epoch in range(run.progress.epoch + 1, epochs + 1):
        try:
            row = run_epoch(run, epoch)
        except StopRequested:
            # last.pt still holds the last complete epoch; a resume replays this one exactly.
            number = run.stop_signal()
            raise Interrupted(number, f"interrupted by {signal.Signals(number).name} in epoch "
                                      f"{epoch}; {run.checkpoints / 'last.pt'} holds epoch "
                                      f"{epoch - 1}. Continue with: nnrun resume={run.run_dir}"
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
        _write_metrics_csv(run.run_dir / "metrics.csv", progress.history)
        if improved:
            progress.best_value, progress.best_epoch = row[f"val_{run.monitor}"], epoch
            progress.bad_epochs = 0
        else:
            progress.bad_epochs += 1
        state = _checkpoint_state(run)
        if improved:
            save_checkpoint(run.checkpoints / "best.pt", state)
        save_checkpoint(run.checkpoints / "last.pt", state)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row, f"val_{run.monitor}")
        if patience is not None and progress.bad_epochs >= patience:
            log.info(f"early stop: val_{run.monitor} has not improved for {patience} epochs")
            break


def finish(run: Run, started: float, overrides: Sequence[str]) -> Dict[str, Any]:
    """Test the best epoch's weights; write summary.json, figures and baselines."""
    best = load_checkpoint(run.checkpoints / "best.pt")
    run.model.load_state_dict(best["model"])
    data, cfg, progress = run.data, run.cfg, run.progress
    outputs = predict(run.step_model, data.test.x, cfg.dataset.eval_batch_size, run.autocast)
    test = score(outputs, data.test.y, run.eval_loss_fn, data.task)
    baseline = (baseline_scores(data, cfg.seed)
                if wants_baseline(cfg.trainer.baseline, len(data.input_shape) == 3) else None)
    summary = {
        "status": "completed",
        "dataset": cfg.dataset.name, "model": cfg.model.name, "task": data.task,
        "test": test,
        "monitor": f"val_{run.monitor}", "best_val": progress.best_value,
        "best_val_loss": progress.history[progress.best_epoch - 1]["val_loss"],
        "best_epoch": progress.best_epoch, "epochs_run": progress.epoch,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "train_seconds": round(sum(row["seconds"] for row in progress.history), 3),
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "samples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        **run_facts(data.train.x.device, overrides),
        "overrides": list(overrides),
    }
    if baseline is not None:
        summary["baseline"] = baseline
    write_json(run.run_dir / "summary.json", summary)
    if cfg.trainer.plots:
        write_run_plots(run.run_dir, data, progress.history, outputs)
    return summary


def record_failure(run_dir: Path, error: BaseException, overrides: Sequence[str]) -> None:
    """summary.json for a run that did not complete, so sweeps and scripts can tell why."""
    try:
        write_json(Path(run_dir) / "summary.json", {
            "status": getattr(error, "run_status", "failed"), "error": str(error),
            "error_type": type(error).__name__, "command": command_line(overrides),
            "overrides": list(overrides)})
    except OSError as unwritable:  # the folder itself may be what failed: report the first error
        log.warning(f"could not record the failure in {run_dir}: {unwritable.strerror}")


def train(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = (),
          on_epoch_end: Optional[EpochHook] = None) -> Dict[str, Any]:
    """Train the model that ``cfg`` describes, leaving everything in ``run_dir``.

    ``overrides`` are the command-line overrides that composed ``cfg``, kept for the record;
    ``on_epoch_end(epoch, metrics_row, monitor)`` runs after each epoch's checkpoint.
    """
    started = time.perf_counter()
    try:
        device = prepare(cfg)
        saved = resumable_state(cfg) if cfg.resume else None
        run = build_run(cfg, Path(run_dir), device)
        if saved is not None:
            restore(run, saved)
        log.info(f"{cfg.dataset.name} ({run.data.task}, {len(run.data.train)} train / "
                 f"{len(run.data.val)} val / {len(run.data.test)} test) -> {cfg.model.name} on "
                 f"{device}; run directory {run.run_dir}")
        log.info(write_model_summary(run.model, run.data.train.x[:2], run.run_dir))
        with stop_requests() as stop_signal:
            run.stop_signal = stop_signal
            fit(run, on_epoch_end)
        summary = finish(run, started, overrides)
    except Exception as error:
        # A refused checkpoint leaves the folder it came from as that run left it.
        if not (isinstance(error, CheckpointError) and resumes_in_place(cfg, run_dir)):
            record_failure(run_dir, error, overrides)
        raise
    log.info(f"test  {console.format_metrics(summary['test'])}")
    return summary
