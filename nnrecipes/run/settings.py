"""What the loop and the finish of a run need from the config, read once: ``RunSettings``.

A built run never reads the config again: the loop, early stopping, testing and the summary take
these frozen settings (and the run's parts), so what each part depends on is one object's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

from omegaconf import DictConfig


@dataclass(frozen=True)
class RunSettings:
    dataset: str  # the option names, for the record
    model: str
    seed: int
    epochs: int
    batch_size: int
    accumulate: int  # batches per optimizer step
    ema: Optional[float]  # the decay of the weights' moving average (trainer.ema), or None
    eval_batch_size: int
    grad_clip: Optional[float]
    monitor: str  # trainer.monitor as set ("auto" until the task is known: run.monitor)
    patience: Optional[int]
    min_delta: float
    progress: bool
    plots: Optional[bool]
    baseline: str
    fold: Optional[Tuple[int, int]]  # (k, folds): this run is fold k of a cross-validation
    class_weight: Any  # "none", "balanced" or a list (trainer.class_weight)
    threshold: Any  # a probability, or "tuned"

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "RunSettings":
        trainer, dataset = cfg.trainer, cfg.dataset
        return cls(dataset=dataset.name, model=cfg.model.name, seed=cfg.seed,
                   epochs=trainer.epochs, batch_size=dataset.batch_size,
                   accumulate=trainer.accumulate, ema=trainer.ema,
                   eval_batch_size=dataset.eval_batch_size, grad_clip=trainer.grad_clip,
                   monitor=trainer.monitor, patience=trainer.patience,
                   min_delta=trainer.min_delta, progress=trainer.progress, plots=trainer.plots,
                   baseline=str(trainer.baseline),
                   fold=(trainer.fold, trainer.folds) if trainer.fold else None,
                   class_weight=_plain(trainer.class_weight),
                   threshold=_plain(trainer.threshold))


def _plain(value: Any) -> Any:
    """A setting as plain data (a list, not OmegaConf's ListConfig)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
