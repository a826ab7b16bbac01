"""Where a search's Optuna study lives, and how many workers share it: ``open_storage``.

``search.storage`` null keeps the study in ``study.db`` inside the search folder (one process).
A URL puts it where several ``nnrun mode=search`` processes find it: an SQLAlchemy URL
(``sqlite:///shared/study.db``, ``postgresql://user@host/db``) or ``journal:PATH``, Optuna's
journal file for shared file systems. However many workers join, the study runs exactly
``search.trials`` trials: a worker claims a new trial only while the study holds fewer, under a
lock every worker takes (PostgreSQL's advisory lock, or a lock file beside an SQLite or journal
file). On a database, each running trial beats a heartbeat; a trial whose worker died (SIGKILL,
a lost node) is failed after ``2 x search.heartbeat`` seconds and tried once more by another
worker. The journal file has no heartbeat in Optuna: a dead worker's trial stays running there.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional

from nnrecipes.core.config import ConfigError

JOURNAL = "journal:"


class StudyFull(Exception):
    """Every trial the search asked for is taken: this worker's part is done."""


def counted(trials: List) -> int:
    """Trials that count towards search.trials: all but the failed ones tried again."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retried = {Retry.retried_trial_number(trial) for trial in trials}
    return sum(1 for trial in trials if trial.number not in retried)


def _bounded(base: type) -> type:
    """``base`` (an Optuna storage class) that creates no trial beyond ``limit``."""
    # Optuna's cache in front of a database calls _create_new_trial, the others
    # create_new_trial: the check goes where every new trial passes, once.
    name = "_create_new_trial" if hasattr(base, "_create_new_trial") else "create_new_trial"

    def create(self, study_id, template_trial=None):
        made = getattr(super(bounded, self), name)
        if template_trial is not None:  # a retry of a failed trial, or an enqueued one
            return made(study_id, template_trial)
        with self.claim():
            if counted(self.get_all_trials(study_id, deepcopy=False)) >= self.limit:
                raise StudyFull()
            return made(study_id)

    def __init__(self, *args, limit: int, claim: Callable[[], ContextManager], beats: int = 0,
                 **kwargs):
        base.__init__(self, *args, **kwargs)
        # beats: the heartbeat's interval in seconds where trials beat one, else 0.
        self.limit, self.claim, self.beats = limit, claim, beats

    bounded = type(f"Bounded{base.__name__}", (base,), {"__init__": __init__, name: create})
    return bounded


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _advisory_lock(engine, name: str) -> Callable[[], ContextManager]:
    """PostgreSQL's session advisory lock, keyed by the study's name."""
    from sqlalchemy import text

    key = zlib.crc32(f"nnrecipes:{name}".encode())

    @contextlib.contextmanager
    def claim() -> Iterator[None]:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    return claim


def _quietly(kind: type, retries: int):
    """Optuna's retry of stale trials, made without its "experimental" warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kind(max_retry=retries)


def shared(setting: Optional[str]) -> bool:
    return setting is not None


def storage_in_words(setting: Optional[str], run_dir: Path) -> str:
    return str(run_dir / "study.db") if setting is None else setting


# SQLite URLs of a database in memory: private to one process, so no worker could join it.
IN_MEMORY = ("sqlite://", "sqlite:///", "sqlite:///:memory:")


def open_storage(setting: Optional[str], run_dir: Path, study: str, trials: int,
                 heartbeat: int):
    """The storage ``search.storage`` names, bounded to ``trials`` trials."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if setting is not None and not setting.startswith(JOURNAL) and "://" not in setting:
        raise ConfigError(f"search.storage={setting} is not allowed: a database URL "
                          f"(sqlite:///PATH, postgresql://USER@HOST/DB) or journal:PATH")
    if setting is not None and setting.split("?")[0] in IN_MEMORY:
        raise ConfigError(f"search.storage={setting} names no file: a study in memory is this "
                          f"process's alone, so no other worker could share it; give a path "
                          f"(sqlite:///shared/study.db), or leave search.storage unset for a "
                          f"search of one process")
    if setting is not None and setting.startswith(JOURNAL):
        path = Path(setting[len(JOURNAL):]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = Path(f"{path}.nnrun-lock")  # not ".lock": Optuna's own journal lock
        return _bounded(JournalStorage)(JournalFileBackend(str(path)), limit=trials,
                                        claim=lambda: _file_lock(lock))
    with warnings.catch_warnings():  # Optuna calls the heartbeat "experimental", each time
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _database(setting or f"sqlite:///{run_dir / 'study.db'}", setting is not None,
                         study, trials, heartbeat)


def _database(url: str, shared_: bool, study: str, trials: int, heartbeat: int):
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    beats = {} if not shared_ else {
        "heartbeat_interval": heartbeat, "grace_period": 2 * heartbeat,
        "heartbeat_stale_trial_callback": _quietly(RetryHeartbeatStaleTrialCallback, 1)}
    interval = beats.get("heartbeat_interval", 0)
    if url.startswith("sqlite:///"):
        lock = Path(f"{url[len('sqlite:///'):]}.nnrun-lock")
        Path(lock).parent.mkdir(parents=True, exist_ok=True)
        return _bounded(RDBStorage)(url, limit=trials, claim=lambda: _file_lock(lock),
                                    beats=interval, **beats)
    storage = _bounded(RDBStorage)(url, limit=trials, claim=contextlib.nullcontext,
                                   beats=interval, **beats)
    if storage.engine.dialect.name == "postgresql":
        storage.claim = _advisory_lock(storage.engine, study)
    else:
        logging.getLogger("nnrecipes").warning(
            f"search.storage={url}: a {storage.engine.dialect.name} database has no lock "
            f"nnrecipes takes; workers may run a trial or two more than search.trials")
    return storage


IDENTITY = "nnrun_search"  # the study's user attribute recording what it searches


def check_same_search(study, searches: Dict[str, Any], where: str, name: str) -> None:
    """A shared study records what it searches (``searches``: data set, monitored metric and
    direction, space) when its first worker opens it; a worker asking for another search is
    refused, naming what differs, before it runs a trial."""
    recorded = study.user_attrs.get(IDENTITY)
    if recorded is None:
        study.set_user_attr(IDENTITY, searches)
        return
    differing = [key for key in sorted(set(recorded) | set(searches))
                 if recorded.get(key) != searches.get(key)]
    if differing:
        shown = "; ".join(f"{key} is {recorded.get(key)!r} in the study, {searches.get(key)!r} "
                          f"here" for key in differing)
        raise ConfigError(f"search.study={name} in {where} is another search ({shown}); join it "
                          f"with the same settings, or name a new study with search.study=...")
