"""After the last epoch: test the best epoch's weights, score the baselines, draw the figures,
then write summary.json, last, so that "completed" means the folder holds everything."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any, Dict, Sequence

from nnrecipes.core.error_concentration import CONCENTRATION, concentrated_error, in_words
from nnrecipes.core.imbalance import tuned_threshold
from nnrecipes.core.run_status import RunStatus
from nnrecipes.data import image_data
from nnrecipes.records.artifacts import wants_baseline, wants_figures
from nnrecipes.records.checkpoint import load_checkpoint
from nnrecipes.records.provenance import environment_facts
from nnrecipes.run.build import Run
from nnrecipes.run.engine import predict, score
from nnrecipes.run.interrupt import Interrupted

log = logging.getLogger("nnrecipes")


def finish(run: Run, started: float, overrides: Sequence[str],
           job_of_a_sweep: bool = False) -> Dict[str, Any]:
    """Test the best epoch's weights, draw the figures, then write summary.json; the summary
    (empty off rank 0, whose recorder keeps the run's records).

    A stop or a failure before the summary leaves an "interrupted" or "failed" record, and a
    resume of the run tests and draws again without training.
    """
    if not run.recorder.writes:
        return {}
    parts = run.parts
    best = load_checkpoint(run.checkpoints / "best.pt")
    parts.nets.saved.load_state_dict(best["model"])
    data, settings = parts.data, parts.settings
    if settings.trainer.threshold == "tuned":
        _tune_threshold(run, best)
    outputs = predict(parts.nets.evaluating, data.test.x, settings.eval_batch_size, parts.autocast)
    test = score(outputs, data.test.y, parts.eval_loss_fn, data.task, run.threshold)
    if settings.fold is not None:  # the cross-validation averages the folds' test outputs
        run.recorder.test_outputs(outputs, data.test.y)
    _stop_if_asked(run, "testing")
    baseline = None
    if wants_baseline(settings.trainer.baseline, image_data(data.input_shape)):
        from nnrecipes.run.baseline import baseline_scores  # scikit-learn's models: here only

        baseline = baseline_scores(data, settings.seed)
    summary = _summary(run, test, started, overrides)
    if baseline is not None:
        summary["baseline"], summary["baseline_val"] = baseline["test"], baseline["val"]
    if data.task.thresholded:
        summary["threshold"] = run.threshold
    concentration = None if data.task.classification else \
        concentrated_error(outputs.float().cpu().numpy(), data.test.y.cpu().numpy())
    if concentration and settings.fold is None:  # a fold's test: the folds' average says it
        summary[CONCENTRATION] = concentration
        log.warning(f"test split: {in_words(concentration)}")
    decisions = (data.encoding or {}).get("decisions")
    if decisions:  # what was done to a table's columns, and why
        summary["columns"] = decisions
    figures = []
    if wants_figures(settings.trainer.plots, job_of_a_sweep):
        figures = run.recorder.figures(data, run.progress.history, outputs, run.threshold,
                                       _harder_in_training(parts.config_record))
        _stop_if_asked(run, "drawing the figures")
    run.recorder.completed(summary, figures)
    return summary


def _tune_threshold(run: Run, best: Dict[str, Any]) -> None:
    """trainer.threshold=tuned: the best epoch's threshold of highest balanced accuracy on the
    validation split, kept in best.pt for predict, eval and export."""
    parts = run.parts
    outputs = predict(parts.nets.evaluating, parts.data.val.x, parts.settings.eval_batch_size,
                      parts.autocast)
    run.threshold = tuned_threshold(outputs, parts.data.val.y)
    log.info(f"trainer.threshold=tuned: {run.threshold:.4g} (highest balanced accuracy on the "
             f"{len(parts.data.val)} validation rows)")
    best.pop("path", None)
    run.recorder.best_checkpoint({**best, "threshold": run.threshold})


def _summary(run: Run, test: Dict[str, float], started: float,
             overrides: Sequence[str]) -> Dict[str, Any]:
    parts, progress = run.parts, run.progress
    data, settings = parts.data, parts.settings
    return {
        "status": RunStatus.completed,
        "dataset": settings.dataset, "model": settings.model, "task": data.task.value,
        "test": test,
        "monitor": parts.monitor.column, "best_val": progress.best_value,
        "best_val_loss": progress.history[progress.best_epoch - 1]["val_loss"],
        "best_epoch": progress.best_epoch, "epochs_run": progress.epoch,
        "val": {key.removeprefix("val_"): value for key, value in
                progress.history[progress.best_epoch - 1].items() if key.startswith("val_")},
        "wall_seconds": round(time.perf_counter() - started, 3),
        "train_seconds": round(sum(row["seconds"] for row in progress.history), 3),
        "parameters": sum(p.numel() for p in parts.nets.trains.parameters()),
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
