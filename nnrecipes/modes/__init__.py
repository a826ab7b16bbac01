"""The modes of ``nnrun`` (``mode=``): each a module here with a ``run(cfg, run_dir, context)``,
imported only when chosen, so that a plain run never loads the search's Optuna or the
range test's figures.

| mode | module |
| --- | --- |
| train (with ``trainer.folds``: cross-validation) | train.py (cross_validation.py) |
| eval | evaluate.py |
| predict | predict.py |
| lr_find | lr_find.py |
| search | search.py (study_storage.py, shared_study.py) |
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from omegaconf import DictConfig

from nnrecipes.core.config import Mode

MODULES = {Mode.train: "train", Mode.eval: "evaluate", Mode.predict: "predict",
           Mode.lr_find: "lr_find", Mode.search: "search"}


@dataclass(frozen=True)
class ModeContext:
    """What a mode gets besides the config and its folder, from the command line."""

    overrides: List[str]  # the command-line overrides that composed the config
    on_accepted: Optional[Callable[[], None]] = None  # a resume accepted (records/resume.py)
    compose: Optional[Callable[[List[str]], DictConfig]] = None  # Hydra's compose (a search)


def run_mode(cfg: DictConfig, run_dir: Path, context: ModeContext) -> None:
    module = importlib.import_module(f"{__name__}.{MODULES[Mode(cfg.mode)]}")
    module.run(cfg, Path(run_dir), context)
