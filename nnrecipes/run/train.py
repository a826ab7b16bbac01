"""``train(cfg, run_dir)``: config -> data -> model -> epochs -> run directory, top to bottom.

The config is read here and by ``build_run`` only; the loop (run/loop.py) and the finish
(run/finish.py) take the built run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

import torch
from omegaconf import DictConfig

from nnrecipes.components.loggers import open_loggers
from nnrecipes.core import console
from nnrecipes.core.run_status import status_for
from nnrecipes.core.validation import validate
from nnrecipes.records.artifacts import write_model_summary
from nnrecipes.records.checkpoint import write_atomically
from nnrecipes.records.provenance import environment_text
from nnrecipes.records.resume import resumable_state, resumes_in_place
from nnrecipes.run import distributed
from nnrecipes.run.build import Run, build_run, prepare, restore
from nnrecipes.run.finish import finish, record_failure
from nnrecipes.run.interrupt import stop_requests
from nnrecipes.run.loop import EpochHook, TrainingDiverged, fit

__all__ = ["EpochHook", "TrainingDiverged", "train"]
log = logging.getLogger("nnrecipes")


def train(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = (),
          on_epoch_end: Optional[EpochHook] = None,
          on_accepted: Optional[Callable[[], None]] = None,
          parent_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Train the model that ``cfg`` describes, leaving everything in ``run_dir``.

    ``overrides`` are the command-line overrides that composed ``cfg``, kept for the record;
    ``on_epoch_end(epoch, metrics_row, monitor)`` runs after each epoch (its files written as
    run/loop.py's EpochFiles has them). A run that resumes in its own folder leaves it byte for
    byte as it was until its checkpoint, config and data are accepted; then ``on_accepted()``
    runs (cli rewrites the folder's record). Under
    torchrun every process trains its share of each batch; only rank 0 writes ``run_dir`` and
    returns the summary (the others return {}). ``parent_dir`` is the sweep or search folder
    the run is a job of, for the loggers that group jobs. With ``trainer.folds`` (and no
    ``trainer.fold``) it is a cross-validation: a run per fold (run/folds.py).
    """
    if cfg.trainer.folds and cfg.trainer.fold is None:
        from nnrecipes.run.folds import check_resumable, cross_validate

        validate(cfg)  # before any fold's folder is made
        check_resumable(cfg, Path(run_dir))
        try:
            return cross_validate(cfg, Path(run_dir), overrides, train,
                                  on_epoch_end=on_epoch_end, on_accepted=on_accepted,
                                  parent_dir=parent_dir)
        except Exception as error:  # the run's own record says so too (sweeps read it)
            if distributed.rank() == 0:
                record_failure(run_dir, error, overrides)
            raise
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
                if on_accepted is not None and ranks.rank == 0:
                    on_accepted()
                _announce(run, device)
                run.stop_signal = stop_signal
                if ranks.rank == 0:
                    _start_records(run, cfg, parent_dir)
                fit(run, on_epoch_end)
            summary = (finish(run, started, overrides, job_of_a_sweep=parent_dir is not None)
                       if ranks.rank == 0 else {})
    except Exception as error:
        if distributed.rank() == 0 and accepted:
            record_failure(run_dir, error, overrides)
        if run is not None:
            run.loggers.ended(status_for(error))
        raise
    if summary:
        log.info(f"test  {console.format_metrics(summary['test'])}")
        if run.settings.fold:
            log.info(f"fold {run.settings.fold[0]}: val  {console.format_metrics(summary['val'])}")
    return summary


def _start_records(run: Run, cfg: DictConfig, parent_dir: Optional[Path]) -> None:
    """environment.txt, then the chosen loggers (a resumed run's pick up after its history)."""
    write_atomically(run.run_dir / "environment.txt", environment_text().encode())
    run.loggers = open_loggers(cfg, run.run_dir, parent_dir, run.progress.history)


def _announce(run: Run, device: torch.device) -> None:
    data, settings = run.data, run.settings
    processes = f" x {run.ranks.world_size} processes" if run.ranks.world_size > 1 else ""
    log.info(f"{settings.dataset} ({data.task}, {len(data.train)} train / {len(data.val)} val / "
             f"{len(data.test)} test) -> {settings.model} on {device}{processes}; "
             f"run directory {run.run_dir}")
    if run.ranks.rank == 0:
        log.info(write_model_summary(run.model, data.train.x[:2], run.run_dir))
