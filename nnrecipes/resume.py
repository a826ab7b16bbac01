"""Resuming, decided here: whether a run continues (in place, as a sweep job) and from what — its
last checkpoint, checked against the config first. (``argv.with_resume_overrides`` turns
``resume=RUN`` into RUN's own command before Hydra composes it.)"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from omegaconf import DictConfig, OmegaConf

from nnrecipes.argv import without_resume
from nnrecipes.checkpoint import CheckpointError, load_checkpoint
from nnrecipes.components import component
from nnrecipes.config import MOVABLE_DATASET_KEYS
from nnrecipes.status import RunStatus, read_summary

log = logging.getLogger("nnrecipes")


def _with_new_keys(saved: Dict[str, Any], now: Dict[str, Any]) -> Dict[str, Any]:
    """A checkpoint's config with the keys its schemas have gained since at their defaults,
    which is what its run had: a checkpoint from before a new option resumes."""
    filled = dict(saved)
    for group in ("dataset", "model", "optimizer", "scheduler"):
        old = saved.get(group) or {}
        if old.get("name") != now[group].get("name"):
            continue  # another option: the name alone tells the difference
        defaults = OmegaConf.to_container(OmegaConf.structured(component(group, old["name"])
                                                               .schema), enum_to_str=True)
        filled[group] = {**{k: v for k, v in defaults.items() if k not in old}, **old}
    return filled


def _identity(config: Dict[str, Any]) -> Dict[str, Any]:
    """The parts of a config that must match for a checkpoint to be resumed."""
    dataset = {k: v for k, v in config["dataset"].items() if k not in MOVABLE_DATASET_KEYS}
    return {"dataset": dataset, "model": config["model"], "optimizer": config["optimizer"],
            "scheduler": config["scheduler"], "seed": config["seed"]}


def _differences(before: Dict[str, Any], now: Dict[str, Any], prefix: str = "") -> List[str]:
    """Keys whose values differ between two nested configs, as 'key: checkpoint vs now'."""
    found = []
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            # Another option of a group (optimizer=sgd for adam): its name says it all.
            same_option = old.get("name") == new.get("name")
            found += _differences(old if same_option else {"name": old.get("name")},
                                  new if same_option else {"name": new.get("name")},
                                  f"{prefix}{key}.")
        elif old != new:
            found.append(f"{prefix}{key} is {old!r} in the checkpoint, {new!r} now")
    return found


def _no_epoch_yet(location: Path) -> bool:
    """A run folder stopped before its first epoch ended: there is nothing to continue."""
    return (location / ".hydra").is_dir() and not (location / "checkpoints" / "last.pt").exists()


def resumable_state(cfg: DictConfig) -> Optional[Dict[str, Any]]:
    """The checkpoint ``cfg.resume`` names, if it fits ``cfg``; None if there is none yet.

    Raises CheckpointError when it is missing, unreadable, or of another model or data set.
    """
    location = Path(cfg.resume).expanduser()
    if _no_epoch_yet(location):
        log.info(f"{location} stopped before its first epoch ended; training from the start")
        return None
    saved = load_checkpoint(location)
    now = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    differences = _differences(_identity(_with_new_keys(saved["config"], now)), _identity(now))
    if differences:
        raise CheckpointError(f"cannot resume from {saved['path']}: it was trained on another "
                              f"setup ({'; '.join(differences)})")
    done = saved["progress"]["epoch"]
    if cfg.trainer.epochs < done:
        raise CheckpointError(f"cannot resume from {saved['path']} with trainer.epochs="
                              f"{cfg.trainer.epochs}: it has trained {done} epochs already; give "
                              f"trainer.epochs={done} or more (or leave it out)")
    return saved


def resumes_in_place(cfg: DictConfig, run_dir: Path) -> bool:
    """Whether ``cfg.resume`` is ``run_dir`` itself or a checkpoint inside it."""
    if not cfg.resume:
        return False
    target = Path(cfg.resume).expanduser().resolve()
    return Path(run_dir).resolve() in (target, *target.parents)


def already_completed(run_dir: Path, overrides: List[str]) -> bool:
    """A sweep job that completed with these very overrides: a resumed sweep skips it."""
    previous = read_summary(run_dir)
    same = without_resume(previous.get("overrides", [])) == without_resume(overrides)
    return previous.get("status") == RunStatus.completed and same


def continue_sweep_job(cfg: DictConfig, run_dir: Path) -> None:
    """A sweep job asked to resume (sweep.resume=true) or started again after a signal (a
    requeued SLURM job) goes on from its last epoch, unless it failed."""
    status = read_summary(run_dir).get("status")
    wanted = cfg.sweep.resume or status == RunStatus.interrupted
    if wanted and status != RunStatus.failed and (run_dir / "checkpoints" / "last.pt").is_file():
        cfg.resume = str(run_dir)


@contextlib.contextmanager
def untouched_unless_accepted(cfg: DictConfig, run_dir: Path,
                              overrides: List[str]) -> Iterator[Callable[[], None]]:
    """A run resumed in its own folder: refused, every byte there stays as it was (the error
    line it logged is cut from nnrun.log again); accepted, the folder's record takes the new
    command (``overrides``). Yields what train calls once it accepts the checkpoint."""
    if not resumes_in_place(cfg, run_dir):
        yield lambda: None
        return
    log_file = run_dir / "nnrun.log"
    size = log_file.stat().st_size if log_file.is_file() else None
    accepted = []

    def accept() -> None:
        accepted.append(True)
        OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
        OmegaConf.save(overrides, run_dir / ".hydra" / "overrides.yaml")

    try:
        yield accept
    except SystemExit as stop:
        if stop.code == 2 and not accepted and size is not None and log_file.is_file():
            os.truncate(log_file, size)
        raise
