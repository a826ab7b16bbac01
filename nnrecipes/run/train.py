"""``train(cfg, run_dir)``: one run, config -> data -> model -> epochs -> run directory, top to
bottom.

The config is read here and by ``build_run`` only; the loop (run/loop.py) and the finish
(run/finish.py) take the built run, and its recorder (records/recorder.py) writes the folder.
Cross-validation, several runs, is a mode above this one (modes/cross_validation.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

import torch
from omegaconf import DictConfig

from nnrecipes.core import console
from nnrecipes.records.resume import resumable_state, resumes_in_place
from nnrecipes.run import distributed
from nnrecipes.run.build import Run, build_run, prepare
from nnrecipes.run.finish import finish
from nnrecipes.run.interrupt import stop_requests
from nnrecipes.run.loop import EpochHook, TrainingDiverged, fit
from nnrecipes.run.saved_state import restore

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
    runs (cli rewrites the folder's record). Under torchrun every process trains its share of
    each batch; only rank 0 writes ``run_dir`` and returns the summary (the others return {}).
    ``parent_dir`` is the sweep or search folder the run is a job of, for the trackers.
    """
    started = time.perf_counter()
    recorder = distributed.recorder(run_dir, accepted=not resumes_in_place(cfg, run_dir))
    with recorder.failures_recorded(overrides):
        device = prepare(cfg)
        saved = resumable_state(cfg) if cfg.resume else None
        # Signals are requests to stop from here to the summary: testing and drawing included.
        with stop_requests() as stop_signal:
            with distributed.process_group(device) as ranks:
                run = build_run(cfg, recorder, device, ranks)
                if saved is not None:
                    restore(run, saved)
                recorder.accept(on_accepted)
                run.stop_signal = stop_signal
                _announce(run, device)
                recorder.start(cfg, parent_dir, run.progress.history, run.parts.nets.trains,
                               run.parts.data.train.x[:2])
                fit(run, on_epoch_end)
            summary = finish(run, started, overrides, job_of_a_sweep=parent_dir is not None)
    _say_scores(run, summary)
    return summary


def _announce(run: Run, device: torch.device) -> None:
    data, settings, ranks = run.parts.data, run.parts.settings, run.parts.ranks
    processes = f" x {ranks.world_size} processes" if ranks.world_size > 1 else ""
    log.info(f"{settings.dataset} ({data.task}, {len(data.train)} train / {len(data.val)} val / "
             f"{len(data.test)} test) -> {settings.model} on {device}{processes}; "
             f"run directory {run.run_dir}")


def _say_scores(run: Run, summary: Dict[str, Any]) -> None:
    if summary:  # rank 0's
        log.info(f"test  {console.format_metrics(summary['test'])}")
        fold = run.parts.settings.fold
        if fold:
            log.info(f"fold {fold[0]}: val  "
                     f"{console.format_metrics(summary['val'])}")
