"""What the loop and the finish of a run need from the config, read once: ``RunSettings``.

A built run never reads the config again: the loop, early stopping, testing and the summary take
these frozen settings (and the run's parts), so what each part depends on is one object's fields.
The trainer's options are the typed schema itself (core/config.py's ``TrainerConfig``, as
``OmegaConf.to_object`` makes it): a new ``trainer.*`` option is declared there and read by its
one consumer, with nothing copied in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from omegaconf import DictConfig, OmegaConf

from nnrecipes.core.config import TrainerConfig


@dataclass(frozen=True)
class RunSettings:
    dataset: str  # the option names, for the record
    model: str
    seed: int
    batch_size: int
    eval_batch_size: int
    trainer: TrainerConfig  # every trainer.* option, as its schema declares it

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "RunSettings":
        return cls(dataset=cfg.dataset.name, model=cfg.model.name, seed=cfg.seed,
                   batch_size=cfg.dataset.batch_size,
                   eval_batch_size=cfg.dataset.eval_batch_size,
                   trainer=OmegaConf.to_object(cfg.trainer))

    @property
    def epochs(self) -> int:
        return self.trainer.epochs

    @property
    def fold(self) -> Optional[Tuple[int, int]]:
        """(k, folds): this run is fold k of a cross-validation."""
        trainer = self.trainer
        return (trainer.fold, trainer.folds) if trainer.fold else None
