"""What each mode does under torchrun: a training run (a cross-validation too) on every rank;
lr_find, eval and predict in rank 0 alone, as one process; sweeps and searches refused, before
Hydra makes a sweep folder where it can."""

from __future__ import annotations

import logging
from typing import List

from omegaconf import DictConfig

from nnrecipes.core.config import ConfigError, Mode
from nnrecipes.core.overrides import multirun
from nnrecipes.run.torchrun import torchrun_rank

log = logging.getLogger("nnrecipes")
TORCHRUN_TRAINS_ONE_RUN = ("under torchrun nnrun trains one run (mode=train, no -m; mode=lr_find, "
                           "eval and predict run in rank 0 alone); sweep or search by launching "
                           "torchrun jobs, as README's 'Scaling out' shows")
# Modes with no training to share: under torchrun rank 0 runs them as one process would.
RANK_ZERO_MODES = (Mode.lr_find, Mode.eval, Mode.predict)


def refuse_torchrun_sweeps(args: List[str]) -> None:
    """Before Hydra makes a sweep folder: under torchrun there is no sweep."""
    if torchrun_rank() is not None and multirun(args):
        raise ConfigError(TORCHRUN_TRAINS_ONE_RUN)


def has_work_under_torchrun(cfg: DictConfig, sweeping: bool) -> bool:
    """Whether this process has work: under torchrun, a training run's every rank; a mode of
    RANK_ZERO_MODES rank 0's alone; a sweep or a search is refused."""
    rank = torchrun_rank()
    if rank is None:
        return True
    if sweeping or (cfg.mode != Mode.train and cfg.mode not in RANK_ZERO_MODES):
        raise ConfigError(TORCHRUN_TRAINS_ONE_RUN)
    if cfg.mode in RANK_ZERO_MODES:
        if rank == 0:
            log.info(f"mode={Mode(cfg.mode).value} under torchrun: rank 0 runs it alone (nothing "
                     f"to share between the ranks)")
        return rank == 0
    if rank > 0:
        log.setLevel(logging.WARNING)  # rank 0 reports; the others speak only of errors
    return True
