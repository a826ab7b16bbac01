"""Resuming, decided here, and only here: what a command that resumes means (``resume=RUN``
recomposes RUN's own overrides and writes into RUN again; ``sweep.resume=true`` goes on in the
earlier sweep of the same command), whether a command resumes the folder it names, whether a run
continues (in place, as a sweep job), and from what: its last checkpoint, checked against the
config first."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from omegaconf import DictConfig, OmegaConf

from nnrecipes.core.config import MOVABLE_DATASET_KEYS, ConfigError, Mode
from nnrecipes.core.overrides import mode_of, multirun, override_key, override_value
from nnrecipes.core.registry import component
from nnrecipes.core.run_status import RunStatus
from nnrecipes.records.checkpoint import CheckpointError, load_checkpoint
from nnrecipes.records.folders import holds_a_run
from nnrecipes.records.summary import read_summary

log = logging.getLogger("nnrecipes")
SWEEP_ROOT = Path("outputs") / "multirun"


def _override_value(text: str) -> str:
    """A path as a Hydra override value: bare when it is plain, quoted otherwise."""
    if re.fullmatch(r"[\w./-]+", text):
        return text
    return "'" + text.replace("'", "\\'") + "'"


def _run_dir_of(location: str) -> Optional[Path]:
    """The run directory a resume target belongs to: the dir itself, or a checkpoint's run."""
    path = Path(location).expanduser().resolve()
    for candidate in (path, path.parent, path.parent.parent):
        if (candidate / ".hydra" / "overrides.yaml").is_file():
            return candidate
    return None


def resume_command(args: List[str]) -> List[str]:
    """``nnrun resume=RUN`` recomposes RUN's own overrides and writes into RUN again.

    Overrides given beside ``resume`` (say ``trainer.epochs=20``) replace the original ones.
    """
    targets = [arg.split("=", 1)[1] for arg in args if override_key(arg) == "resume"]
    run_dir = _run_dir_of(targets[-1]) if targets else None
    if run_dir is None and targets and holds_a_run(Path(targets[-1]).expanduser()):
        raise ConfigError(
            f"resume={targets[-1]}: this run folder has no .hydra/overrides.yaml, so nnrun "
            f"cannot tell which command made it. Restore .hydra/, or continue its checkpoint "
            f"into a new folder with the command's settings: resume={targets[-1]}/checkpoints/"
            f"last.pt plus the overrides it was trained with")
    if run_dir is None or multirun(args) or mode_of(args) in (Mode.eval, Mode.predict):
        return args  # eval and predict read the run's checkpoint and write a new folder
    given = {override_key(arg) for arg in args}
    original = OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")
    kept = [str(o) for o in original if override_key(str(o)) not in given]
    others = [arg for arg in args if override_key(arg) not in ("resume", "hydra.run.dir")]
    location = _override_value(str(run_dir))
    # Hydra would rewrite RUN/.hydra before the checkpoint is checked; _task does it after.
    return [*_config_dirs_of(run_dir), *kept, *others, f"resume={location}",
            f"hydra.run.dir={location}", "hydra.output_subdir=null"]


def eval_command(args: List[str]) -> List[str]:
    """``nnrun mode=eval checkpoint=RUN dataset.path=other.csv``: the dataset keys given are
    those of RUN's data set option, which Hydra must be told (its default is another)."""
    target = override_value(args, "checkpoint") or override_value(args, "resume")
    keys = [override_key(arg) for arg in args]
    if mode_of(args) != Mode.eval or not target or "dataset" in keys or \
            not any(key.startswith("dataset.") for key in keys):
        return args
    run_dir = _run_dir_of(target)
    record = run_dir / ".hydra" / "config.yaml" if run_dir else None
    if record is None or not record.is_file():
        return args
    name = OmegaConf.load(record).dataset.get("name")
    return [f"dataset={name}", *args] if name else args


def _config_dirs_of(run_dir: Path) -> List[str]:
    """The --config-dir a run was started with, so that its own YAML files are found again."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return []
    sources = OmegaConf.load(hydra_yaml).hydra.runtime.config_sources
    return [item for source in sources if source.provider == "command-line"
            for item in ("--config-dir", source.path.removeprefix("file://"))]


def _sweep_identity(overrides: List[str]) -> List[str]:
    """What makes two sweep commands the same sweep: their overrides, less flags and Hydra's."""
    return sorted(item for item in without_resume(overrides)
                  if not item.startswith(("-", "hydra")))


def previous_sweep(args: List[str], root: Path = SWEEP_ROOT) -> Optional[Path]:
    """The newest sweep under ``root`` that ran the same overrides as ``args``."""
    wanted = _sweep_identity(args)
    found = sorted(root.glob("*/*/multirun.yaml"), key=lambda path: path.stat().st_mtime)
    for path in reversed(found):
        ran = OmegaConf.load(path).hydra.overrides.task
        if _sweep_identity([str(item) for item in ran]) == wanted:
            return path.parent.resolve()
    return None


def sweep_resume_asked(args: List[str]) -> bool:
    """Whether the command line says sweep.resume=true (the one place that reads it)."""
    return any(arg.replace(" ", "") == "sweep.resume=true" for arg in args)


def sweep_resume_command(args: List[str]) -> List[str]:
    """``nnrun -m ... sweep.resume=true`` goes on in the earlier sweep of the same command."""
    asked = sweep_resume_asked(args)
    named = any(override_key(arg) == "hydra.sweep.dir" for arg in args)
    if not (multirun(args) and asked) or named:
        return args
    earlier = previous_sweep(args)
    if earlier is None:
        print(f"nnrun: no earlier sweep of these overrides under {SWEEP_ROOT}; starting a new one")
        return args
    print(f"nnrun: resuming the sweep in {earlier}")
    return [*args, f"hydra.sweep.dir={_override_value(str(earlier))}"]


def without_resume(overrides: List[str]) -> List[str]:
    return [item for item in overrides if override_key(item) != "sweep.resume"]


def command_resumes(args: List[str], folder: Path, is_multirun: bool) -> bool:
    """Whether the command continues what ``folder`` holds, rather than writing a new run there."""
    if is_multirun:
        return sweep_resume_asked(args)
    target = override_value(args, "resume")
    if target is None or "${" in target:
        return False
    target, folder = Path(target).expanduser().resolve(), Path(folder).resolve()
    return folder == target or folder in target.parents


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


# Trainer settings that change what a run learns (or which folds it has): a resume keeps them.
# The others may change (trainer.epochs to train longer, patience, progress, plots, ...).
TRAINING_KEYS = ("grad_clip", "accumulate", "ema", "monitor", "label_smoothing", "precision",
                 "unfreeze_epoch", "folds", "class_weight", "threshold")


def _identity(config: Dict[str, Any], now: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The parts of a config that must match for a checkpoint to be resumed; a trainer key a
    saved config lacks (a checkpoint from before it) counts as ``now``'s."""
    dataset = {k: v for k, v in config["dataset"].items() if k not in MOVABLE_DATASET_KEYS}
    trainer, current = config.get("trainer", {}), (now or config).get("trainer", {})
    return {"dataset": dataset, "model": config["model"], "optimizer": config["optimizer"],
            "scheduler": config["scheduler"], "seed": config["seed"],
            "trainer": {key: trainer.get(key, current.get(key)) for key in TRAINING_KEYS}}


def _changes(before: Dict[str, Any], now: Dict[str, Any]) -> List[str]:
    """What differs between a saved config and the one asked for now, key by key."""
    return _differences(_identity(_with_new_keys(before, now), now), _identity(now))


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
    folds = cross_validation_folds(location)
    if folds:
        raise CheckpointError(f"cannot resume {location} as a single run: it is a {folds}-fold "
                              f"cross-validation; resume it with its folds (leave "
                              f"trainer.folds={folds}), or start a single run in a new folder")
    if _no_epoch_yet(location):
        log.info(f"{location} stopped before its first epoch ended; training from the start")
        return None
    saved = load_checkpoint(location)
    differences = _changes(saved["config"], OmegaConf.to_container(cfg, resolve=True,
                                                                   enum_to_str=True))
    if differences:
        raise CheckpointError(f"cannot resume from {saved['path']}: it was trained on another "
                              f"setup ({'; '.join(differences)})")
    done = saved["progress"]["epoch"]
    if cfg.trainer.epochs < done:
        raise CheckpointError(f"cannot resume from {saved['path']} with trainer.epochs="
                              f"{cfg.trainer.epochs}: it has trained {done} epochs already; give "
                              f"trainer.epochs={done} or more (or leave it out)")
    return saved


def cross_validation_folds(location: Path) -> int:
    """The folds of the cross-validation in the run folder ``location``; 0 if it is none."""
    summary = read_summary(location) if location.is_dir() else {}
    if summary.get("folds"):
        return int(summary["folds"])
    return len(list(location.glob("fold_*"))) if location.is_dir() else 0


def check_resumes_cross_validation(location: Path) -> None:
    """``resume=RUN trainer.folds=K``: RUN must be a cross-validation, not a single run that
    the folds' summary would replace."""
    if (location / "checkpoints" / "last.pt").is_file() and not cross_validation_folds(location):
        raise CheckpointError(f"cannot resume {location} as a cross-validation: it is a single "
                              f"run; cross-validate in a new folder (without resume=), or resume "
                              f"it without trainer.folds")


def completed_fold(cfg: DictConfig, folder: Path) -> Optional[Dict[str, Any]]:
    """A fold of a resumed cross-validation: its summary where it completed as ``cfg`` asks
    (kept as it is), None where it is still to train or to continue; refused where it was
    trained with other settings, or as a fold of another split, naming what changed."""
    record = folder / ".hydra" / "config.yaml"
    if not record.is_file():
        return None
    before = OmegaConf.to_container(OmegaConf.load(record), resolve=True, enum_to_str=True)
    differences = _changes(before, OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    if differences:
        raise CheckpointError(f"cannot resume the cross-validation in {folder.parent}: its "
                              f"{folder.name} was trained with another setup "
                              f"({'; '.join(differences)}); its folds would mix two "
                              f"experiments. Resume with the same settings, or cross-validate "
                              f"in a new folder")
    done = read_summary(folder)
    return done if _completed(done) and done.get("epochs_run") == cfg.trainer.epochs else None


def resume_fold(cfg: DictConfig, folder: Path) -> Optional[Dict[str, Any]]:
    """How fold ``folder`` of a resumed cross-validation goes on: its summary where it
    completed as ``cfg`` asks (kept); otherwise None, ``cfg.resume`` set where its checkpoints
    let it continue (it trains from the start where they do not)."""
    done = completed_fold(cfg, folder)
    if done is None and (folder / "checkpoints" / "last.pt").is_file():
        cfg.resume = str(folder)
    return done


def _completed(summary: Dict[str, Any]) -> bool:
    return summary.get("status") == RunStatus.completed


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
    return _completed(previous) and same


def continue_sweep_job(cfg: DictConfig, run_dir: Path) -> None:
    """A sweep job asked to resume (sweep.resume=true) or started again after a signal (a
    requeued SLURM job) goes on from its last epoch, unless it failed."""
    status = read_summary(run_dir).get("status")
    wanted = cfg.sweep.resume or status == RunStatus.interrupted
    started = (run_dir / "checkpoints" / "last.pt").is_file() or \
        (run_dir / "fold_1").is_dir()  # a cross-validation keeps its finished folds
    if wanted and status != RunStatus.failed and started:
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
