"""Experiment trackers a run reports to: ``logger=tensorboard``, ``logger=mlflow``, or several at
once with ``logger=[tensorboard,mlflow]``; ``logger=none`` (the default) keeps to the run folder.

A logger is a component like a model: a file here, with ``declare("logger", name, schema,
LoggerClass, extra=...)`` beside its class. Its YAML places its settings under
``logger.<name>``, so several can be chosen together. The class is built by rank 0 once the run is accepted, hears of every
epoch, and of how the run ended; its library is imported only then, and a missing one is a
one-line error naming the extra to install (checked before any work starts).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from nnrecipes.core.config import ConfigError, first_line
from nnrecipes.core.registry import component
from nnrecipes.core.run_status import RunStatus

log = logging.getLogger("nnrecipes")


@dataclass
class LoggerConfig:
    name: str = ""


class RunLogger:
    """What every logger hears. ``run_dir`` is the run's folder; ``parent_dir`` the sweep or
    search folder it is a job of (None for a single run)."""

    def __init__(self, settings: DictConfig, run_dir: Path, parent_dir: Optional[Path]):
        self.settings, self.run_dir, self.parent_dir = settings, Path(run_dir), parent_dir

    def start(self, params: Dict[str, Any], history: Sequence[Dict[str, float]]) -> None:
        """The run begins, or resumes after ``history`` (the epochs already done)."""

    def epoch(self, row: Dict[str, float]) -> None:
        """One epoch's row of metrics.csv."""

    def completed(self, summary: Dict[str, Any], files: Sequence[Path]) -> None:
        """summary.json is written; ``files`` are the figures and records to attach."""

    def ended(self, status: RunStatus) -> None:
        """The run stopped without completing: failed, interrupted or pruned."""

    @classmethod
    def open_group(cls, settings: DictConfig, parent_dir: Path) -> None:
        """A sweep or search begins in ``parent_dir``."""

    @classmethod
    def close_group(cls, settings: DictConfig, parent_dir: Path, ok: bool) -> None:
        """The sweep or search ended; ``ok`` when every job completed."""




def chosen(cfg: DictConfig) -> Dict[str, DictConfig]:
    """The loggers a config picks, by name (``logger.<name>`` sections)."""
    section = cfg.get("logger") or {}
    return {str(name): settings for name, settings in section.items()}


def check_available(cfg: DictConfig) -> None:
    """Each chosen logger is declared and its library installed; before any work starts. All
    the missing extras are named in one message, so one install brings them all."""
    missing = {}
    for name in chosen(cfg):
        item = component("logger", name)
        module = item.trait("module")
        if module and importlib.util.find_spec(module) is None:
            missing[name] = item.trait("extra")
    if missing:
        extras = sorted(set(missing.values()))
        needs = "needs" if len(missing) == 1 else "need"
        raise ConfigError(f"logger={','.join(missing)} {needs} the {', '.join(extras)} "
                          f"extra{'s' * (len(extras) > 1)}: "
                          f"pip install 'nnrecipes[{','.join(extras)}]'")
    for name, settings in chosen(cfg).items():  # each one's own check (its server answers)
        check = component("logger", name).trait("check")
        if check is not None:
            check(settings)


def flat_params(cfg: DictConfig) -> Dict[str, Any]:
    """The run's config as ``{"optimizer.lr": 0.01, ...}``: what trackers show as its settings.
    Lists become their text; the logger section itself is left out."""
    found: Dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, DictConfig):
            for key in node.keys():
                walk(node[key], f"{prefix}{key}.")
        elif isinstance(node, ListConfig):
            found[prefix[:-1]] = str(OmegaConf.to_container(node))
        else:
            found[prefix[:-1]] = node.value if isinstance(node, Enum) else node

    for key in cfg.keys():
        if key != "logger":
            walk(cfg[key], f"{key}.")
    return found


class Loggers:
    """The chosen loggers, told together. A logger that fails after the start is reported and
    dropped: a tracker's hiccup must not cost a finished training run."""

    def __init__(self, members: Iterable[RunLogger] = ()):
        self.members: List[RunLogger] = list(members)

    def _each(self, method: str, *args: Any) -> None:
        for member in list(self.members):
            try:
                getattr(member, method)(*args)
            except Exception as error:  # noqa: BLE001 - any tracker failure: report, carry on
                name = type(member).__name__
                log.warning(f"{name} could not record this run ({method}): "
                            f"{type(error).__name__}: {error}; it is left out from here on")
                self.members.remove(member)

    def epoch(self, row: Dict[str, float]) -> None:
        self._each("epoch", row)

    def completed(self, summary: Dict[str, Any], files: Sequence[Path]) -> None:
        self._each("completed", summary, files)

    def ended(self, status: RunStatus) -> None:
        self._each("ended", status)


def open_loggers(cfg: DictConfig, run_dir: Path, parent_dir: Optional[Path],
                 history: Sequence[Dict[str, float]]) -> Loggers:
    """Build and start the chosen loggers; a failure here stops the run before it trains."""
    members = []
    for name, settings in chosen(cfg).items():
        member = component("logger", name).build(settings, Path(run_dir), parent_dir)
        try:
            member.start(flat_params(cfg), history)
        except Exception as error:  # a store that cannot be opened is the config's doing
            reason = first_line(error, 300)
            raise ConfigError(f"logger={name} could not start: {reason}") from error
        members.append(member)
    return Loggers(members)


def _installed(cfg: DictConfig) -> Dict[str, DictConfig]:
    """The chosen loggers whose library is there; each job reports a missing one itself."""
    def installed(name: str) -> bool:
        module = component("logger", name).trait("module")
        return module is None or importlib.util.find_spec(module) is not None

    return {name: settings for name, settings in chosen(cfg).items() if installed(name)}


def open_group(cfg: DictConfig, parent_dir: Path) -> None:
    """A sweep or search begins: loggers that group jobs (MLflow's parent run) open it."""
    for name, settings in _installed(cfg).items():
        item = component("logger", name)
        if item.trait("check") is not None:
            item.trait("check")(settings)
        item.build.open_group(settings, Path(parent_dir))


def close_group(cfg: DictConfig, parent_dir: Path, ok: bool) -> None:
    for name, settings in _installed(cfg).items():
        component("logger", name).build.close_group(settings, Path(parent_dir), ok)
