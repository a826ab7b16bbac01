"""``nnrun mode=search``: an Optuna study over a declared space, pruning hopeless trials.

Each trial is an ordinary run (its own folder, metrics, checkpoints) composed from the search's
overrides plus the sampled ones. Its validation metric is reported after every epoch, and the
median pruner stops trials that fall behind the others at the same epoch. The study lives in
``study.db`` inside the search folder, so ``nnrun resume=<search folder>`` carries on. The best
trial's full config is written as ``experiment/best.yaml``, a Hydra experiment that
``nnrun --config-dir <search folder> +experiment=best`` runs again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

import optuna
import yaml
from omegaconf import DictConfig, OmegaConf

from nnrecipes.argv import override_key
from nnrecipes.config import ConfigError
from nnrecipes.components import GROUPS as COMPONENT_GROUPS, MANY_GROUPS
from nnrecipes.data import declared_task
from nnrecipes.loggers import close_group, open_group
from nnrecipes.status import RunEnded, RunStatus
from nnrecipes.sweep import summarize_sweep
from nnrecipes.tasks import monitored
from nnrecipes.train import train
from nnrecipes.validation import validate

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


def suggest(trial: optuna.Trial, key: str, spec: Dict[str, Any]) -> str:
    """One sampled override, ``key=value``, from a space entry."""
    if "choices" in spec:
        # Optuna keeps categorical values as plain scalars, so lists travel as their text.
        return f"{key}={trial.suggest_categorical(key, [_as_override(c) for c in spec['choices']])}"
    if not {"low", "high"} <= set(spec):
        raise ConfigError(f"search.space.{key} needs either choices or low and high")
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
        (trial_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(trial_cfg, trial_dir / ".hydra" / "config.yaml")
        (trial_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))

        def report(epoch: int, row: Dict[str, float], _: str) -> None:
            trial.report(row[monitor], epoch)
            if trial.should_prune():
                raise Pruned(f"pruned after epoch {epoch}: {monitor} {row[monitor]:.4g}")

        return train(trial_cfg, trial_dir, overrides, on_epoch_end=report,
                     parent_dir=run_dir)["best_val"]

    return objective


def _open_study(cfg: DictConfig, run_dir: Path, direction: str) -> optuna.Study:
    pruner = optuna.pruners.MedianPruner(n_startup_trials=cfg.search.startup_trials,
                                         n_warmup_steps=cfg.search.warmup_epochs)
    if cfg.search.pruner == "none":
        pruner = optuna.pruners.NopPruner()
    elif cfg.search.pruner != "median":
        raise ConfigError(f"search.pruner={cfg.search.pruner!r} is unknown; known: median, none")
    try:
        study = optuna.create_study(
            study_name="nnrun", storage=f"sqlite:///{run_dir / 'study.db'}", load_if_exists=True,
            direction=direction, sampler=optuna.samplers.TPESampler(seed=cfg.seed), pruner=pruner)
    except Exception as error:  # sqlalchemy's DatabaseError and Optuna's own, depending on damage
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ConfigError(f"{run_dir / 'study.db'} is not a readable Optuna study ({reason}); "
                          f"move it away to start the study afresh") from None
    for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)  # cut off by an interruption
    return study


def run_search(cfg: DictConfig, run_dir: Path, overrides: Sequence[str],
               compose: Compose) -> optuna.Study:
    validate(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = declared_task(cfg.dataset)
    if task == "auto":  # the study's direction must be known before the first trial
        raise ConfigError("mode=search needs the task before the data is loaded: set "
                          "dataset.task to regression, binary or multiclass")
    monitor = monitored(cfg.trainer.monitor, task)
    study = _open_study(cfg, run_dir, "minimize" if monitor.minimised else "maximize")
    done = len([t for t in study.trials if t.state.is_finished()])
    remaining = max(0, cfg.search.trials - done)
    log.info(f"search: {remaining} of {cfg.search.trials} trials to run, "
             f"{'minimising' if monitor.minimised else 'maximising'} {monitor.column}; "
             f"study {run_dir}")
    open_group(cfg, run_dir)  # the chosen loggers' parent run, with each trial as a child
    study.optimize(_objective(cfg, run_dir, compose, _base_overrides(overrides), monitor.column),
                   n_trials=remaining, timeout=cfg.search.timeout, catch=(Exception,))
    ranked = summarize_sweep(run_dir)
    close_group(cfg, run_dir, ok=any(row["status"] == RunStatus.completed for row in ranked))
    _write_best(ranked, run_dir, monitor.column)
    return study


def _write_best(ranked: List[Dict[str, Any]], run_dir: Path, monitor: str) -> None:
    """The summary's winner (ties on the metric broken by validation loss) as an experiment."""
    if not ranked or ranked[0]["status"] != RunStatus.completed:
        log.error("search: no trial completed, so there is no best config")
        return
    best = ranked[0]
    config = OmegaConf.to_container(OmegaConf.load(Path(best["run_dir"]) / ".hydra" /
                                                   "config.yaml"), resolve=True)
    note = f"best of {len(ranked)} trials: {best['job']}, {monitor} {best['val']:.6g}"
    target = run_dir / "experiment" / "best.yaml"
    target.parent.mkdir(exist_ok=True)
    target.write_text(best_experiment(config, note))
    log.info(f"search: {note}\nrun it again: nnrun --config-dir {run_dir} +experiment=best")
