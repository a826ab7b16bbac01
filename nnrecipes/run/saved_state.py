"""The state of a run's parts that a checkpoint holds (``checkpoint_state``) and a resume
restores (``restore``), schedule included."""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict
from typing import Any, Dict

from nnrecipes.records.checkpoint import check_fits
from nnrecipes.run.build import Parts, Progress, Run

log = logging.getLogger("nnrecipes")


def checkpoint_state(run: Run) -> Dict[str, Any]:
    parts = run.parts
    data, nets = parts.data, parts.nets
    trained = {"trained_model": nets.trains.state_dict(), "average_updates": nets.average.updates} \
        if nets.average is not None else {}
    return {
        "model": nets.saved.state_dict(),  # what predicts: the average, where kept
        **trained,
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
        "scaler": parts.scaler.state_dict() if parts.scaler is not None else None,
        "progress": asdict(run.progress),
        "config": parts.config_record,
        "model_spec": {"input_shape": list(data.input_shape), "num_outputs": data.num_outputs,
                       "task": data.task.value},  # plain text: checkpoints load weights-only
        "stats": data.stats,
        "class_names": data.class_names,
        "encoding": data.encoding,
        "threshold": run.threshold if data.task.thresholded else None,
    }


def restore(run: Run, saved: Dict[str, Any]) -> None:
    """Continue from a checkpoint that resumable_state found to fit this run's config."""
    parts = run.parts
    check_fits(saved, parts.data.input_shape, parts.data.num_outputs)
    nets = parts.nets
    nets.trains.load_state_dict(saved.get("trained_model", saved["model"]))
    if nets.average is not None:
        nets.saved.load_state_dict(saved["model"])
        # checkpoints from before the warm-up: as many updates as steps taken
        nets.average.updates = saved.get("average_updates",
                                         saved["progress"]["epoch"] * parts.steps_per_epoch)
    parts.optimizer.load_state_dict(saved["optimizer"])
    if parts.scaler is not None and saved.get("scaler"):
        parts.scaler.load_state_dict(saved["scaler"])
    if parts.scheduler is not None and saved["scheduler"] is not None:
        _restore_schedule(parts, saved)
    run.progress = Progress(**saved["progress"])
    log.info(f"resumed from {saved['path']} after epoch {run.progress.epoch}")


def _restore_schedule(parts: Parts, saved: Dict[str, Any]) -> None:
    """The schedule where the checkpoint left it. A resume that trains longer (a larger
    trainer.epochs) follows the schedule of a run of the new length from the step reached,
    rather than the old schedule's end (a learning rate of 0 for cosine, an error for
    one-cycle): the same learning rates as a run started with the new length."""
    before, now = saved["config"]["trainer"]["epochs"], parts.settings.epochs
    if before == now:
        parts.scheduler.load_state_dict(saved["scheduler"])
        return
    steps = saved["scheduler"]["last_epoch"]
    parts.scheduler.last_epoch = steps - 1
    with warnings.catch_warnings():  # stepped before optimizer.step on purpose: to step `steps`
        warnings.simplefilter("ignore", UserWarning)
        parts.scheduler.step()
    log.info(f"trainer.epochs {before} -> {now}: the {parts.config_record['scheduler']['name']} "
             f"schedule goes on as a {now}-epoch run's from step {steps} "
             f"(lr {parts.optimizer.param_groups[0]['lr']:.4g})")
