"""k-fold cross-validation, ``trainer.folds=K``: ``cross_validate``.

Each fold is an ordinary run in ``fold_<k>/`` under the run's folder, its config saying
``trainer.fold=k``: the k-th fold of the training pool validates it (scikit-learn's
``StratifiedKFold(n_splits=K, shuffle=True, random_state=seed)``, data/splits.py), the rest
trains it, and every fold keeps the same test split. Each fold's run scores the baselines on its
validation fold too, so the network and the baselines are compared on the same rows. The run's
own ``summary.json`` then gives each validation metric's mean and standard deviation across the
folds (numpy's, over K values), and the test split scored by the folds' models averaged
(probabilities for classification, values for regression). A fold's network score is its best
epoch's, picked on that same fold: slightly optimistic; the averaged test score never saw its
rows.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nnrecipes.core.error_concentration import CONCENTRATION, concentrated_error, in_words
from nnrecipes.core.run_status import RunStatus
from nnrecipes.core.task import Task, averaged_outputs, compute_metrics, headline_metric, logit
from nnrecipes.core.validation import validate
from nnrecipes.records.artifacts import wants_figures
from nnrecipes.records.provenance import command_line
from nnrecipes.records.recorder import TEST_OUTPUTS, Recorder
from nnrecipes.records.resume import check_resumes_cross_validation, completed_fold, resume_fold
from nnrecipes.run import distributed
from nnrecipes.run.devices import resolve_device
from nnrecipes.run.train import train

log = logging.getLogger("nnrecipes")
NETWORK = "network"  # the network's row among the baselines' in the cross-validated scores


def fold_dir(run_dir: Path, fold: int) -> Path:
    return Path(run_dir) / f"fold_{fold}"


def cross_validate(cfg: DictConfig, run_dir: Path, overrides: Sequence[str],
                   **hooks) -> Dict[str, Any]:
    """Train ``cfg`` once per fold (run/train.py's ``train``, given the ``hooks`` it takes),
    then write the run's summary of them all. Resumed in its own folder (``nnrun
    resume=RUN``), a fold that completed with these settings is kept as it is, one with
    checkpoints continues from them, and the others train (records/resume.py decides)."""
    validate(cfg)  # before any fold's folder is made
    check_resumable(cfg, run_dir)
    recorder = distributed.recorder(run_dir)  # rank 0 keeps the records
    with recorder.failures_recorded(overrides):
        return _cross_validate(cfg, recorder, overrides, hooks)


def _cross_validate(cfg: DictConfig, recorder: Recorder, overrides: Sequence[str],
                    hooks: Dict[str, Any]) -> Dict[str, Any]:
    started, run_dir, folds = time.perf_counter(), recorder.run_dir, cfg.trainer.folds
    log.info(f"trainer.folds={folds}: {folds} runs, each validated on one fold of the training "
             f"pool, in {fold_dir(run_dir, 1)} ... fold_{folds}")
    recorder.open_group(cfg)  # the folds are its members in the chosen trackers
    device = distributed.device_for_this_process(resolve_device(cfg.device.name,
                                                                cfg.device.threads))
    summaries = []
    try:
        with distributed.process_group(device):  # one for every fold (distributed.py)
            for fold in range(1, folds + 1):
                log.info(f"fold {fold} of {folds}")
                summaries.append(_fold(cfg, recorder, fold, overrides, hooks))
    except BaseException:
        recorder.close_group(cfg, ok=False)
        raise
    recorder.accept(hooks.get("on_accepted"))  # every fold was kept: accepted all the same
    if not recorder.writes:
        return {}
    summary = _summary(cfg, run_dir, summaries, started, overrides)
    if wants_figures(cfg.trainer.plots, job_of_a_sweep=hooks.get("parent_dir") is not None):
        recorder.compared_curves(_fold_histories(run_dir, folds),
                                 headline_metric(Task(summary["task"])))
    recorder.completed(summary)
    recorder.close_group(cfg, ok=True)
    return summary


def check_resumable(cfg: DictConfig, run_dir: Path) -> None:
    """A resumed cross-validation continues the same folds with the same settings: refused
    before anything is written (the finished work's record included) or any tracker told."""
    if not cfg.resume:
        return
    check_resumes_cross_validation(Path(cfg.resume).expanduser())
    for fold in range(1, cfg.trainer.folds + 1):
        completed_fold(_fold_config(cfg, fold), fold_dir(run_dir, fold))


def _fold(cfg: DictConfig, recorder: Recorder, fold: int, overrides: Sequence[str],
          hooks: Dict[str, Any]) -> Dict[str, Any]:
    """Fold ``fold``'s summary: kept (a resume, the fold completed as asked), or trained."""
    folder, fold_cfg = fold_dir(recorder.run_dir, fold), _fold_config(cfg, fold)
    if cfg.resume:
        done = resume_fold(fold_cfg, folder)
        if done is not None:
            log.info(f"fold {fold} completed before: kept as it is ({folder})")
            return done
    recorder.output(f"{folder.name}/.hydra/config.yaml", OmegaConf.to_yaml(fold_cfg).encode())
    summary = train(fold_cfg, folder, [*overrides, f"trainer.fold={fold}"],
                    **{**hooks, "parent_dir": recorder.run_dir})
    hooks["on_accepted"] = None  # the run's folder is accepted once
    hooks["on_epoch_end"] = None  # a search prunes on the first fold's curve
    return summary


def _fold_histories(run_dir: Path, folds: int) -> Dict[str, List[Dict[str, float]]]:
    """Every fold's metrics.csv, for the cross-validation's curves.png."""
    import csv

    histories = {}
    for fold in range(1, folds + 1):
        with open(fold_dir(run_dir, fold) / "metrics.csv", newline="") as handle:
            histories[f"fold {fold}"] = [{key: float(value) for key, value in row.items()
                                         if value not in ("", None)}
                                        for row in csv.DictReader(handle)]
    return histories


def _fold_config(cfg: DictConfig, fold: int) -> DictConfig:
    fold_cfg = copy.deepcopy(cfg)
    fold_cfg.trainer.fold, fold_cfg.resume = fold, None
    return fold_cfg


def _summary(cfg: DictConfig, run_dir: Path, summaries: List[Dict[str, Any]], started: float,
             overrides: Sequence[str]) -> Dict[str, Any]:
    first = summaries[0]
    cv = {NETWORK: _spread([s["val"] for s in summaries])}
    for name in first.get("baseline_val", {}):
        cv[name] = _spread([s["baseline_val"][name] for s in summaries])
    monitor = first["monitor"].removeprefix("val_")
    test = _averaged_test(run_dir, Task(first["task"]), len(summaries),
                          [s.get("threshold", 0.5) for s in summaries])
    return {
        "status": RunStatus.completed, "dataset": first["dataset"], "model": first["model"],
        "task": first["task"], "folds": len(summaries), "test": test, "cv": cv,
        "monitor": first["monitor"], "best_val": cv[NETWORK][monitor]["mean"],
        "best_val_std": cv[NETWORK][monitor]["std"],
        "best_val_loss": cv[NETWORK]["loss"]["mean"],
        "best_epoch": [s["best_epoch"] for s in summaries],
        "epochs_run": sum(s["epochs_run"] for s in summaries),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "train_seconds": round(sum(s["train_seconds"] for s in summaries), 3),
        "parameters": first["parameters"], "samples": first["samples"],
        **({"threshold": test.pop("threshold")} if "threshold" in test else {}),
        **({CONCENTRATION: test.pop(CONCENTRATION)} if CONCENTRATION in test else {}),
        # What the first fold did to a table's columns (each fold decides on its own rows).
        **({"columns": first["columns"]} if "columns" in first else {}),
        **{key: first[key] for key in ("device", "device_name", "host", "git", "versions")
           if key in first},
        "command": command_line(overrides), "overrides": list(overrides),
    }


def _spread(scores: List[Dict[str, float]]) -> Dict[str, Dict[str, Any]]:
    """Each metric's mean and standard deviation across the folds, and the folds' values."""
    spread = {}
    for metric in scores[0]:
        values = [float(score[metric]) for score in scores]
        finite = [value for value in values if not math.isnan(value)]
        spread[metric] = {"mean": float(np.mean(finite)) if finite else math.nan,
                          "std": float(np.std(finite)) if finite else math.nan,
                          "folds": values}
    return spread


def _averaged_test(run_dir: Path, task: Task, folds: int,
                   thresholds: List[float]) -> Dict[str, float]:
    """The test split scored by the folds' models averaged: the mean of their probabilities
    (classification; binary at the folds' mean threshold) or of their values (regression)."""
    import torch

    kept = [np.load(fold_dir(run_dir, fold) / TEST_OUTPUTS) for fold in range(1, folds + 1)]
    outputs = torch.from_numpy(np.stack([saved["outputs"] for saved in kept]))
    targets = torch.from_numpy(kept[0]["targets"])
    averaged = averaged_outputs(task, outputs)
    threshold = float(np.mean(thresholds)) if task.thresholded else 0.5
    scores = compute_metrics(task, averaged, targets, threshold)
    log.info(f"test split scored by the {folds} folds' models averaged"
             + (f" (threshold {threshold:.4g}, logit {logit(threshold):.3g})"
                if task.thresholded and threshold != 0.5 else ""))
    concentration = None if task.classification else \
        concentrated_error(averaged.numpy(), targets.numpy())
    if concentration:
        log.warning(f"test split: {in_words(concentration)}")
    return {**scores, **({"threshold": threshold} if task.thresholded else {}),
            **({CONCENTRATION: concentration} if concentration else {})}


def cross_validated(summary: Dict[str, Any]) -> Dict[str, str]:
    """The results table's rows of a cross-validation: each model's headline, mean ± std."""
    from nnrecipes.core.task import headline_metric

    metric = headline_metric(Task(summary["task"]))
    return {f"{summary['folds']}-fold {name} {metric}":
            f"{scores[metric]['mean']:.4f} ± {scores[metric]['std']:.4f}"
            for name, scores in summary["cv"].items()}

