"""A run's status and its record, ``summary.json``: the one module that writes and reads them.

``completed`` means the folder holds everything (the summary is written last); a run that stopped
says ``interrupted`` (resumable), ``pruned`` (a search gave up on it) or ``failed`` (with the
error). A folder without a summary is ``interrupted`` if it has a checkpoint, else ``not
finished``.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Optional

from nnrecipes.checkpoint import write_json

SUMMARY = "summary.json"


class RunStatus(str, Enum):
    completed = "completed"
    failed = "failed"
    interrupted = "interrupted"
    pruned = "pruned"
    not_finished = "not finished"

    @property
    def finished(self) -> bool:
        """Nothing more will come of it: completed, or given up on by a search."""
        return self in (RunStatus.completed, RunStatus.pruned)


class RunEnded(Exception):
    """A run that ended before completing for a reason other than an error; says which."""

    status = RunStatus.failed


def status_for(error: BaseException) -> RunStatus:
    return error.status if isinstance(error, RunEnded) else RunStatus.failed


def write_summary(run_dir: Path, summary: Dict[str, Any]) -> None:
    write_json(Path(run_dir) / SUMMARY, {**summary, "status": RunStatus(summary["status"]).value})


def read_summary(run_dir: Path) -> Dict[str, Any]:
    """The run's summary; {} if it has none yet (a JSONDecodeError if it is corrupt)."""
    path = Path(run_dir) / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else {}


def has_summary(run_dir: Path) -> bool:
    return (Path(run_dir) / SUMMARY).is_file()


def status_of(run_dir: Path) -> RunStatus:
    recorded: Optional[str] = read_summary(run_dir).get("status")
    if recorded is not None:
        return RunStatus(recorded)
    resumable = (Path(run_dir) / "checkpoints" / "last.pt").is_file()
    return RunStatus.interrupted if resumable else RunStatus.not_finished
