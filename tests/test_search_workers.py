"""Searches shared by several workers (search.storage): separate nnrun processes on one study
run exactly search.trials trials between them, none twice, and write one best config; a worker
killed mid-trial leaves the study able to finish."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List

import optuna
import pytest
from conftest import service_script

WORKER = ("mode=search", "dataset=iris", "search.trials=12", "search.startup_trials=3",
          "trainer.epochs=2", "trainer.progress=false", "trainer.baseline=off")


def _worker(folder: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nnrecipes.cli", *WORKER, *extra,
                             f"hydra.run.dir={folder}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of this test's own, on a Unix socket in a scratch folder (no
    network): its URL. .ci/run installs the server where it can (apt-get, as root)."""
    local_postgres = service_script("local_postgres")
    why = local_postgres.missing()
    if why:
        pytest.skip(why)
    pytest.importorskip("psycopg", reason="pip install 'nnrecipes[postgresql]'")
    folder = Path(tempfile.mkdtemp(prefix="nnrecipes-pg-"))  # outside root's private tmp
    try:
        yield local_postgres.start(folder)
    finally:
        local_postgres.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _storage(setting: str):
    if setting.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(setting[len("journal:"):]))
    return setting


def _shared_search(tmp_path: Path, setting: str) -> List[Path]:
    folders = [tmp_path / "worker_1", tmp_path / "worker_2"]
    workers = []
    for folder in folders:
        workers.append(_worker(folder, f"search.storage='{setting}'"))
        time.sleep(2)  # started seconds apart
    try:
        for worker in workers:
            out, _ = worker.communicate(timeout=600)
            assert worker.returncode == 0, out[-3000:]
    finally:
        for worker in workers:
            worker.kill()
    study = optuna.load_study(study_name="nnrun", storage=_storage(setting))
    states = [trial.state for trial in study.trials]
    assert len(states) == 12 and optuna.trial.TrialState.FAIL not in states
    assert all(state.is_finished() for state in states)
    params = [tuple(sorted(trial.params.items())) for trial in study.trials]
    assert len(set(params)) == 12  # no parameter set twice
    bests = [folder / "experiment" / "best.yaml" for folder in folders
             if (folder / "experiment" / "best.yaml").is_file()]
    assert len(bests) == 1
    trials = sorted(path.name for folder in folders for path in folder.glob("trial_*"))
    assert trials == [f"trial_{number:03d}" for number in range(12)]
    return folders


def test_two_workers_share_a_postgresql_study(tmp_path, postgres):
    _shared_search(tmp_path, postgres)


def test_two_workers_share_a_journal_file(tmp_path):
    _shared_search(tmp_path, f"journal:{tmp_path / 'shared' / 'study.log'}")


def test_two_workers_share_an_sqlite_file(tmp_path):
    _shared_search(tmp_path, f"sqlite:///{tmp_path / 'shared' / 'study.db'}")


def test_a_killed_workers_trial_is_failed_and_tried_again(tmp_path, postgres):
    setting = postgres
    slow = ("search.heartbeat=1", "trainer.epochs=400", "search.trials=3", "search.study=killed",
            f"search.storage='{setting}'")
    doomed = _worker(tmp_path / "doomed", *slow)
    for _ in range(1500):  # until its first trial has trained an epoch (and beaten a heartbeat)
        time.sleep(0.2)
        if list((tmp_path / "doomed").glob("trial_*/metrics.csv")):
            break
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate()
    survivor = _worker(tmp_path / "survivor", "search.heartbeat=1", "search.trials=3",
                       "search.study=killed", f"search.storage='{setting}'")
    out, _ = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, out[-3000:]
    trials = optuna.load_study(study_name="killed", storage=setting).trials
    states = [trial.state for trial in trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1  # the killed one, tried again
    assert sum(state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
               for state in states) == 3
    assert (tmp_path / "survivor" / "experiment" / "best.yaml").is_file()


@pytest.mark.parametrize("setting", ["journal:{tmp}/study.log", "sqlite:///{tmp}/study.db"])
def test_a_later_worker_with_more_trials_goes_on_with_the_study(setting, tmp_path):
    setting = setting.format(tmp=tmp_path)
    for folder, trials in (("first", 2), ("later", 3)):
        worker = _worker(tmp_path / folder, f"search.storage='{setting}'",
                         f"search.trials={trials}")
        out, _ = worker.communicate(timeout=600)
        assert worker.returncode == 0, out[-3000:]
    assert len(optuna.load_study(study_name="nnrun", storage=_storage(setting)).trials) == 3
    assert [path.name for path in (tmp_path / "later").glob("trial_*")] == ["trial_002"]


def test_a_worker_of_another_search_is_refused_before_any_trial(tmp_path):
    setting = f"sqlite:///{tmp_path / 'study.db'}"
    first = _worker(tmp_path / "first", f"search.storage='{setting}'", "search.trials=1")
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out[-3000:]
    for extra, says in ((("dataset=wine",), "dataset is {'name': 'iris'} in the study, "
                                            "{'name': 'wine'} here"),
                        (("trainer.monitor=loss",), "monitor is 'maximize val_accuracy' in the "
                                                    "study, 'minimize val_loss' here")):
        other = _worker(tmp_path / f"other_{len(extra[0])}", f"search.storage='{setting}'",
                        "search.trials=2", *extra)
        out, _ = other.communicate(timeout=600)
        assert other.returncode == 2, out[-3000:]
        assert f"search.study=nnrun in {setting} is another search ({says})" in out
        assert "Traceback" not in out
    assert len(optuna.load_study(study_name="nnrun", storage=setting).trials) == 1


def test_a_journal_study_whose_worker_died_still_gets_a_best_config(tmp_path):
    """A journal has no heartbeat: a trial whose worker died stays running for ever. The worker
    that runs the rest writes the best config of the completed trials, and says why."""
    setting = f"journal:{tmp_path / 'study.log'}"
    study = optuna.create_study(study_name="nnrun", storage=_storage(setting),
                                direction="maximize")
    study.ask()  # a worker that took a trial and died
    worker = _worker(tmp_path / "survivor", f"search.storage='{setting}'", "search.trials=3",
                     "search.heartbeat=2")
    out, _ = worker.communicate(timeout=600)
    assert worker.returncode == 0, out[-3000:]
    assert "1 trials have reported nothing for 4 s (their workers died" in out
    assert (tmp_path / "survivor" / "experiment" / "best.yaml").is_file()
