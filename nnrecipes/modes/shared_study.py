"""A search study that several workers share (``search.storage``): what it searches, the wait
for other workers' trials (to try again any whose worker dies), and the best config written by
one worker, once. Where the study lives and how trials are claimed: study_storage.py."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import optuna
import yaml
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from nnrecipes.modes import study_storage

log = logging.getLogger("nnrecipes")
POLL_SECONDS = 2  # how often a waiting worker reads the study


def searches(cfg: DictConfig, monitor: str, direction: str) -> Dict[str, Any]:
    """What makes two workers' searches the same: the data (its option, file and target), the
    metric and its direction, and the space."""
    data = {key: cfg.dataset.get(key) for key in ("name", "target") if key in cfg.dataset}
    if cfg.dataset.get("path"):  # by its name: workers on other machines mount it elsewhere
        data["file"] = Path(cfg.dataset.path).name
    return {"dataset": data, "monitor": f"{direction} {monitor}",
            "space": OmegaConf.to_container(cfg.search.space, resolve=True)}


def retries_to_run(study: optuna.Study, interval: int) -> bool:
    """Wait while other workers' trials run; True when a dead one's retry waits to run. The
    study is read every few seconds (the others' trials may end any moment), stale trials
    failed every heartbeat. A wait with no trial changing for 20 heartbeats ends: a worker that
    died before its first heartbeat leaves a trial Optuna cannot tell from a slow one."""
    said, seen, quiet = False, None, 0
    next_beat = time.monotonic() + interval
    while True:
        trials = study.get_trials(deepcopy=False)
        if any(trial.state == TrialState.WAITING for trial in trials):
            return True
        running = [trial for trial in trials if trial.state == TrialState.RUNNING]
        if not running:
            return False
        if not said:
            log.info(f"search: every trial is taken; waiting for {len(running)} running in "
                     f"other workers, to try again any whose worker dies")
            said = True
        if time.monotonic() >= next_beat:
            states = [(trial.number, trial.state) for trial in trials]
            quiet = quiet + 1 if states == seen else 0
            if quiet >= 20:
                return False
            seen, next_beat = states, next_beat + interval
            with warnings.catch_warnings():  # Optuna calls it experimental
                warnings.simplefilter("ignore")
                optuna.storages.fail_stale_trials(study)
        time.sleep(min(POLL_SECONDS, interval))


def _wait_while_others_report(study: optuna.Study, silence: float) -> None:
    """A journal keeps no heartbeat: wait while other workers' running trials report epochs,
    until they end or none has reported for ``silence`` seconds (their workers died)."""
    last, changed = None, time.monotonic()
    while True:
        running = [(trial.number, len(trial.intermediate_values)) for trial in
                   study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
        if not running or time.monotonic() - changed > silence:
            return
        if running != last:
            last, changed = running, time.monotonic()
        time.sleep(min(POLL_SECONDS, silence))


def best_of(study: optuna.Study, storage, run_dir: Path, monitor: str,
            silence: float) -> Optional[Tuple[Dict[str, Any], str]]:
    """The study's best trial's config and a note on it, for the one worker that finds the
    study finished (the claim every worker takes decides which); None for the others. On a
    journal, trials silent for ``silence`` seconds count as their dead workers'."""
    if not storage.beats:
        _wait_while_others_report(study, silence)
    with storage.claim():
        trials = study.get_trials(deepcopy=False)
        busy = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        if study.user_attrs.get("best_written_by"):
            return None
        if busy and storage.beats:
            log.info(f"search: {len(busy)} trials still running in other workers; the last "
                     f"to finish writes the best config")
            return None
        if busy:  # a journal keeps no heartbeat: a dead worker's trials run for ever there
            log.warning(f"search: {len(busy)} trials have reported nothing for {silence:g} s "
                        f"(their workers died, or a journal study cannot tell); the best config "
                        f"of the trials completed is written here, and again by a worker that "
                        f"finishes later")
        else:
            study.set_user_attr("best_written_by", str(run_dir))
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    if not completed:
        log.error("search: no trial completed, so there is no best config")
        return None
    best = study.best_trial
    config = yaml.safe_load(best.user_attrs["config"])
    return config, (f"best of {study_storage.counted(trials)} trials: trial {best.number}, "
                    f"{monitor} {best.value:.6g}")
