"""A run's status, ``RunStatus``: one type for summary.json, sweeps, searches and trackers.

``completed`` means the run folder holds everything (its summary is written last); a run that
stopped says ``interrupted`` (resumable), ``pruned`` (a search gave up on it) or ``failed`` (with
the error); a folder without a summary is ``interrupted`` if it has a checkpoint, else ``not
finished``. records/summary.py reads and writes the summary that holds it.
"""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    completed = "completed"
    failed = "failed"
    interrupted = "interrupted"
    pruned = "pruned"
    not_finished = "not finished"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def finished(self) -> bool:
        """Nothing more will come of it: completed, or given up on by a search."""
        return self in (RunStatus.completed, RunStatus.pruned)


class RunEnded(Exception):
    """A run that ended before completing for a reason other than an error; says which."""

    status = RunStatus.failed


def status_for(error: BaseException) -> RunStatus:
    return error.status if isinstance(error, RunEnded) else RunStatus.failed
