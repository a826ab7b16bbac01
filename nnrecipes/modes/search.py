"""``nnrun mode=search``: an Optuna study over a declared space, pruning hopeless trials.

Each trial is an ordinary run (its own folder, metrics, checkpoints) composed from the search's
overrides plus the sampled ones. Its validation metric is reported after every epoch, and the
median pruner stops trials that fall behind the others at the same epoch. The study lives in
``study.db`` inside the search folder, so ``nnrun resume=<search folder>`` carries on, or in a
storage several workers share (``search.storage``, study_storage.py): each ``nnrun
mode=search`` process with the same storage and ``search.study`` takes trials until the study
holds ``search.trials``. The best trial's full config is written as ``experiment/best.yaml``, a
Hydra experiment that ``nnrun --config-dir <search folder> +experiment=best`` runs again: by the
one worker that finds the study finished.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import optuna
import yaml
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from nnrecipes.components.loggers import close_group, open_group
from nnrecipes.core.config import ConfigError, first_line
from nnrecipes.core.explain import describe
from nnrecipes.core.overrides import override_key
from nnrecipes.core.registry import GROUPS as COMPONENT_GROUPS
from nnrecipes.core.registry import MANY_GROUPS
from nnrecipes.core.run_status import RunEnded, RunStatus
from nnrecipes.core.task import TASK_NAMES, monitored
from nnrecipes.core.validation import validate
from nnrecipes.data import declared_task
from nnrecipes.modes import shared_study, study_storage
from nnrecipes.modes.train import train_or_cross_validate
from nnrecipes.records.recorder import Recorder
from nnrecipes.records.sweep import summarize_sweep, unfinished

log = logging.getLogger("nnrecipes")
# The groups whose option the best trial picked; its best.yaml picks the same.
GROUPS = (*(group for group in COMPONENT_GROUPS if group not in MANY_GROUPS), "device")
Compose = Callable[[List[str]], DictConfig]


class Pruned(optuna.TrialPruned, RunEnded):
    status = RunStatus.pruned


def _as_override(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_as_override(item) for item in value) + "]"
    return str(value)


SPEC_FIELDS = ("low", "high", "log", "step", "choices")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_entry(key: str, spec: Any) -> None:
    """One entry of the space has a form Optuna can sample, before any trial runs."""
    where = f"search.space.{key}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}={spec!r} is not allowed: write {{low: ..., high: ...}} (with "
                          f"log: true or step: ...) or {{choices: [...]}}")
    unknown = [field for field in spec if field not in SPEC_FIELDS]
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]} is not a field of a search entry; its fields "
                          f"are: {', '.join(SPEC_FIELDS)}")
    if "choices" in spec:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ConfigError(f"{where}.choices must be a list of at least one value")
        return
    if not {"low", "high"} <= set(spec):
        raise ConfigError(f"{where} needs either choices or low and high")
    for bound in ("low", "high", *(["step"] if "step" in spec else [])):
        if not _number(spec[bound]):
            raise ConfigError(f"{where}.{bound}={spec[bound]!r} is not allowed: must be a number")
    if spec["low"] > spec["high"]:
        raise ConfigError(f"{where}: low={spec['low']} is above high={spec['high']}")
    if spec.get("log") and spec["low"] <= 0:
        raise ConfigError(f"{where}: log=true needs low > 0 (it is {spec['low']})")
    if "step" in spec and spec["step"] <= 0:
        raise ConfigError(f"{where}.step={spec['step']} is not allowed: must be greater than 0")


def _probe_values(spec: Dict[str, Any]) -> List[str]:
    """Values of an entry to compose before the search: its bounds, or every choice."""
    if "choices" in spec:
        return [_as_override(choice) for choice in spec["choices"]]
    return [_as_override(spec["low"]), _as_override(spec["high"])]


def check_space(space: Dict[str, Any], base: List[str], compose: Compose) -> None:
    """The whole space before the first trial: each entry's form, then configs made from its
    values (every choice, both bounds) compose and pass validation, so a misspelled key or a
    value outside a setting's range fails once, naming it, rather than in every trial."""
    from nnrecipes.core.explain import explain

    for key, spec in space.items():
        check_entry(key, spec)
    probes = {key: _probe_values(spec) for key, spec in space.items()}
    for index in range(max((len(values) for values in probes.values()), default=0)):
        picked = [f"{key}={values[index % len(values)]}" for key, values in probes.items()]
        try:
            validate(compose([*base, *picked]))
        except Exception as error:  # noqa: BLE001 - composition raises Hydra's and ours
            raise ConfigError(f"search.space cannot make a valid config from "
                              f"{' '.join(picked)}: {explain(error)}") from None


def suggest(trial: optuna.Trial, key: str, spec: Dict[str, Any]) -> str:
    """One sampled override, ``key=value``, from a space entry (checked by check_entry)."""
    if "choices" in spec:
        # Optuna keeps categorical values as plain scalars, so lists travel as their text.
        return f"{key}={trial.suggest_categorical(key, [_as_override(c) for c in spec['choices']])}"
    if all(isinstance(spec[bound], int) for bound in ("low", "high")):
        value = trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step", 1),
                                  log=spec.get("log", False))
    else:
        value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]),
                                    log=spec.get("log", False))
    return f"{key}={value}"


def _base_overrides(overrides: Sequence[str]) -> List[str]:
    """The search's own overrides that every trial shares (not the search's settings)."""
    own = ("mode", "resume", "search", "hydra")
    return [item for item in overrides
            if override_key(item).split(".")[0] not in own]


def best_experiment(config: Dict[str, Any], note: str) -> str:
    """A Hydra experiment config that recreates ``config`` (a resolved trial config)."""
    defaults: List[Any] = [{f"override /{group}": config[group]["name"]} for group in GROUPS]
    body = {"defaults": [*defaults, "_self_"],
            **{key: config[key] for key in (*GROUPS, "trainer", "seed")}}
    return f"# @package _global_\n# {note}\n" + yaml.safe_dump(body, sort_keys=False)


def _objective(cfg: DictConfig, run_dir: Path, compose: Compose, base: List[str], monitor: str):
    def objective(trial: optuna.Trial) -> float:
        space = OmegaConf.to_container(cfg.search.space)
        overrides = [*base, *(suggest(trial, key, spec) for key, spec in space.items())]
        trial_cfg = compose(overrides)
        trial_dir = run_dir / f"trial_{trial.number:03d}"
        recorder = Recorder(trial_dir)
        recorder.output(".hydra/config.yaml", OmegaConf.to_yaml(trial_cfg).encode())
        recorder.output(".hydra/overrides.yaml", yaml.safe_dump(overrides).encode())
        # Any worker may write the best config: the study keeps every trial's.
        trial.set_user_attr("config", OmegaConf.to_yaml(trial_cfg, resolve=True))

        def report(epoch: int, row: Dict[str, float], _: str) -> None:
            trial.report(row[monitor], epoch)
            if trial.should_prune():
                raise Pruned(f"pruned after epoch {epoch}: {monitor} {row[monitor]:.4g}")

        try:
            return train_or_cross_validate(trial_cfg, trial_dir, overrides, on_epoch_end=report,
                         parent_dir=run_dir)["best_val"]
        except optuna.TrialPruned as pruned:
            log.info(f"trial {trial.number} ({' '.join(overrides[len(base):])}) {pruned}, "
                     f"below the median of the trials before it at that epoch")
            raise
        except Exception as error:  # one line here; Optuna marks the trial failed
            log.error(f"trial {trial.number} failed ({' '.join(overrides[len(base):])}): "
                      f"{describe(error)}")
            raise

    return objective


def _open_study(cfg: DictConfig, run_dir: Path, direction: str):
    """The study and its (bounded) storage."""
    search = cfg.search
    pruner = optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials,
                                         n_warmup_steps=search.warmup_epochs)
    if search.pruner == "none":
        pruner = optuna.pruners.NopPruner()
    elif search.pruner != "median":
        raise ConfigError(f"search.pruner={search.pruner!r} is unknown; known: median, none")
    where = study_storage.storage_in_words(search.storage, run_dir)
    # Workers that sampled alike would run the same trials: only a lone search is seeded.
    seed = None if study_storage.shared(search.storage) else cfg.seed
    try:
        storage = study_storage.open_storage(search.storage, run_dir, search.study,
                                             search.trials, search.heartbeat)
        study = optuna.create_study(
            study_name=search.study, storage=storage, load_if_exists=True, direction=direction,
            sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    except ConfigError:
        raise
    except Exception as error:  # sqlalchemy's DatabaseError and Optuna's own, depending on damage
        reason = first_line(error, 200)
        if "database is locked" in reason:
            raise ConfigError(f"{where} is locked by another process (an optuna-dashboard, or a "
                              f"program writing to it): wait until it lets go, then run the "
                              f"command again") from None
        if isinstance(error, ModuleNotFoundError):
            raise ConfigError(f"search.storage={where} needs the {error.name} package: pip "
                              f"install 'nnrecipes[postgresql]'") from None
        if study_storage.shared(search.storage):
            raise ConfigError(f"search.storage={where}: cannot open the study ({reason})") \
                from None
        raise ConfigError(f"{where} is not a readable Optuna study ({reason}); move it away to "
                          f"start the study afresh") from None
    if not study_storage.shared(search.storage):  # the folder's own study: nobody else runs it
        for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(stale.number, state=TrialState.FAIL)  # cut off by an interruption
    return study, storage


def run(cfg: DictConfig, run_dir: Path, context) -> None:
    """mode=search; exits 1, as a sweep with failed jobs, when a trial failed."""
    if run_search(cfg, run_dir, context.overrides, context.compose):
        raise SystemExit(1)


def run_search(cfg: DictConfig, run_dir: Path, overrides: Sequence[str],
               compose: Compose) -> int:
    """Run the study; returns how many of its trials failed (not pruned, not completed)."""
    validate(cfg)
    # Optuna prints a failed trial's traceback as a warning; each gets one line here instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    task = declared_task(cfg.dataset)
    if task is None:  # the study's direction must be known before the first trial
        raise ConfigError(f"mode=search needs the task before the data is loaded: set "
                          f"dataset.task to {', '.join(TASK_NAMES[:-1])} or {TASK_NAMES[-1]}")
    monitor = monitored(cfg.trainer.monitor, task)
    check_space(OmegaConf.to_container(cfg.search.space), _base_overrides(overrides), compose)
    direction = "minimize" if monitor.minimised else "maximize"
    study, storage = _open_study(cfg, run_dir, direction)
    if study_storage.shared(cfg.search.storage):
        study_storage.check_same_search(study, shared_study.searches(cfg, monitor.column,
                                                                       direction),
                                        cfg.search.storage, cfg.search.study)
    remaining = max(0, cfg.search.trials - study_storage.counted(study.trials))
    log.info(f"search: {remaining} of {cfg.search.trials} trials to run, "
             f"{'minimising' if monitor.minimised else 'maximising'} {monitor.column}; "
             f"study {study_storage.storage_in_words(cfg.search.storage, run_dir)}")
    open_group(cfg, run_dir)  # the chosen loggers' parent run, with each trial as a child
    _take_trials(study, storage, _objective(cfg, run_dir, compose, _base_overrides(overrides),
                                            monitor.column), cfg.search.timeout)
    ranked = summarize_sweep(run_dir)
    close_group(cfg, run_dir, ok=any(row["status"] == RunStatus.completed for row in ranked))
    if study_storage.shared(cfg.search.storage):
        best = shared_study.best_of(study, storage, run_dir, monitor.column,
                                    silence=2 * cfg.search.heartbeat)
        if best is not None:
            _write_experiment(*best, run_dir)
    else:
        _write_best(ranked, run_dir, monitor.column)
    return len(unfinished(ranked))


def _take_trials(study: optuna.Study, storage, objective, timeout: Optional[float]) -> None:
    """Run trials until the study holds all it asked for; then, on a storage with heartbeats,
    stay while other workers' trials run, to try again any whose worker dies."""
    while True:
        try:
            study.optimize(objective, timeout=timeout, catch=(Exception,))
            return  # search.timeout ran out
        except study_storage.StudyFull:
            pass  # every trial is taken, here or by another worker
        if not storage.beats or not shared_study.retries_to_run(study, storage.beats):
            return


def _write_best(ranked: List[Dict[str, Any]], run_dir: Path, monitor: str) -> None:
    """The summary's winner (ties on the metric broken by validation loss) as an experiment."""
    if not ranked or ranked[0]["status"] != RunStatus.completed:
        log.error("search: no trial completed, so there is no best config")
        return
    best = ranked[0]
    config = OmegaConf.to_container(OmegaConf.load(Path(best["run_dir"]) / ".hydra" /
                                                   "config.yaml"), resolve=True)
    _write_experiment(config, f"best of {len(ranked)} trials: {best['job']}, {monitor} "
                              f"{best['val']:.6g}", run_dir)


def _write_experiment(config: Dict[str, Any], note: str, run_dir: Path) -> None:
    """The best trial's config as experiment/best.yaml, and the command that runs it again."""
    Recorder(run_dir).output("experiment/best.yaml", best_experiment(config, note).encode())
    log.info(f"search: {note}\nrun it again: nnrun --config-dir {run_dir} +experiment=best")
