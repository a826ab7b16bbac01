"""After the last epoch: test the best epoch's weights, score the baselines, draw the figures,
then write summary.json, last, so that "completed" means the folder holds everything."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any, Dict, Sequence

from nnrecipes.core.explain import describe
from nnrecipes.core.imbalance import tuned_threshold
from nnrecipes.core.run_status import RunStatus, status_for
from nnrecipes.core.task import Task
from nnrecipes.data import image_data
from nnrecipes.records.artifacts import wants_baseline, wants_figures, write_run_plots
from nnrecipes.records.checkpoint import load_checkpoint, save_checkpoint
from nnrecipes.records.provenance import command_line, environment_facts
from nnrecipes.records.status import write_summary
from nnrecipes.run.baseline import baseline_scores
from nnrecipes.run.build import Run
from nnrecipes.run.engine import predict, score
from nnrecipes.run.folds import keep_test_outputs
from nnrecipes.run.interrupt import Interrupted

log = logging.getLogger("nnrecipes")
# The files besides the figures that trackers keep with a completed run.
RECORDS = ("summary.json", "metrics.csv", "environment.txt", "model.txt", ".hydra/config.yaml")


def finish(run: Run, started: float, overrides: Sequence[str],
           job_of_a_sweep: bool = False) -> Dict[str, Any]:
    """Test the best epoch's weights, draw the figures, then write summary.json.

    A stop or a failure before the summary leaves an "interrupted" or "failed" record, and a
    resume of the run tests and draws again without training.
    """
    best = load_checkpoint(run.checkpoints / "best.pt")
    run.evaluated.load_state_dict(best["model"])
    data, settings = run.data, run.settings
    if settings.threshold == "tuned":
        _tune_threshold(run, best)
    outputs = predict(run.eval_model, data.test.x, settings.eval_batch_size, run.autocast)
    test = score(outputs, data.test.y, run.eval_loss_fn, data.task, run.threshold)
    if settings.fold is not None:  # the cross-validation averages the folds' test outputs
        keep_test_outputs(run.run_dir, outputs, data.test.y)
    _stop_if_asked(run, "testing")
    baseline = (baseline_scores(data, settings.seed)
                if wants_baseline(settings.baseline, image_data(data.input_shape)) else None)
    summary = _summary(run, test, started, overrides)
    if baseline is not None:
        summary["baseline"], summary["baseline_val"] = baseline["test"], baseline["val"]
    if data.task is Task.binary:
        summary["threshold"] = run.threshold
    decisions = (data.encoding or {}).get("decisions")
    if decisions:  # what was done to a table's columns, and why
        summary["columns"] = decisions
    figures = []
    if wants_figures(settings.plots, job_of_a_sweep):
        figures = write_run_plots(run.run_dir, data, run.progress.history, outputs,
                                  run.threshold, _harder_in_training(run.config_record))
        _stop_if_asked(run, "drawing the figures")
    write_summary(run.run_dir, summary)
    records = [run.run_dir / name for name in RECORDS if (run.run_dir / name).is_file()]
    run.loggers.completed(summary, [*figures, *records])
    return summary


def _tune_threshold(run: Run, best: Dict[str, Any]) -> None:
    """trainer.threshold=tuned: the best epoch's threshold of highest balanced accuracy on the
    validation split, kept in best.pt for predict, eval and export."""
    outputs = predict(run.eval_model, run.data.val.x, run.settings.eval_batch_size, run.autocast)
    run.threshold = tuned_threshold(outputs, run.data.val.y)
    log.info(f"trainer.threshold=tuned: {run.threshold:.4g} (highest balanced accuracy on the "
             f"{len(run.data.val)} validation rows)")
    best.pop("path", None)
    save_checkpoint([run.checkpoints / "best.pt"], {**best, "threshold": run.threshold})


def _summary(run: Run, test: Dict[str, float], started: float,
             overrides: Sequence[str]) -> Dict[str, Any]:
    data, progress = run.data, run.progress
    return {
        "status": RunStatus.completed,
        "dataset": run.settings.dataset, "model": run.settings.model, "task": data.task.value,
        "test": test,
        "monitor": run.monitor.column, "best_val": progress.best_value,
        "best_val_loss": progress.history[progress.best_epoch - 1]["val_loss"],
        "best_epoch": progress.best_epoch, "epochs_run": progress.epoch,
        "val": {key.removeprefix("val_"): value for key, value in
                progress.history[progress.best_epoch - 1].items() if key.startswith("val_")},
        "wall_seconds": round(time.perf_counter() - started, 3),
        "train_seconds": round(sum(row["seconds"] for row in progress.history), 3),
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "samples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        **environment_facts(data.train.x.device, overrides),
        "overrides": list(overrides),
    }


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


def _harder_in_training(config: Dict[str, Any]) -> str:
    """What makes the training loss higher than the validation loss by design (the loss is
    smoothed, batches are augmented, units dropped, the average validates), for the figure."""
    trainer, dataset, model = config["trainer"], config["dataset"], config["model"]
    causes = [f"label smoothing {trainer['label_smoothing']:g}"
              if trainer.get("label_smoothing") else "",
              f"augmented batches ({', '.join(dataset['augment'])})"
              if dataset.get("augment") else "",
              f"dropout {model['dropout']:g}" if model.get("dropout") else "",
              "a weight average (trainer.ema) validates" if trainer.get("ema") else ""]
    return ", ".join(cause for cause in causes if cause)
