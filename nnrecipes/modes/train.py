"""``mode=train``: one run (run/train.py), or, with ``trainer.folds``, a cross-validation of a
run per fold (modes/cross_validation.py); and the results table it prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Sequence

from omegaconf import DictConfig

from nnrecipes.run.train import train


def train_or_cross_validate(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = (),
                            **hooks) -> Dict[str, Any]:
    """What ``cfg`` asks to train: its summary (empty off rank 0). ``hooks`` are run/train.py's
    (``on_epoch_end``, ``on_accepted``, ``parent_dir``). Sweep jobs and search trials train
    through here too."""
    if cfg.trainer.folds and cfg.trainer.fold is None:
        from nnrecipes.modes.cross_validation import cross_validate

        return cross_validate(cfg, Path(run_dir), overrides, **hooks)
    return train(cfg, run_dir, overrides, **hooks)


def run(cfg: DictConfig, run_dir: Path, context) -> None:
    summary = train_or_cross_validate(cfg, run_dir, context.overrides,
                                      on_accepted=context.on_accepted)
    if summary:  # under torchrun, rank 0's
        show_results(summary, run_dir)


def show_results(summary: dict, run_dir: Path) -> None:
    """The results table a finished run prints: test metrics, baselines (or the folds' mean
    and std), best epoch, training seconds, the run folder."""
    from nnrecipes.core.console import metric_text, results_table
    from nnrecipes.modes.cross_validation import cross_validated

    facts = {f"baseline {name} {metric}": metric_text(value)
             for name, scores in summary.get("baseline", {}).items()
             for metric, value in scores.items()}
    if "cv" in summary:
        facts = cross_validated(summary)
    results_table(f"{summary['dataset']} / {summary['model']}", summary["test"],
                  {**facts, "best epoch": summary["best_epoch"],
                   "train seconds": summary["train_seconds"], "run directory": str(run_dir)})
