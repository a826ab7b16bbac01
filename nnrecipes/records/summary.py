"""A run's record, ``summary.json``: the one module that writes and reads it (the status it holds
is ``core.run_status.RunStatus``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

from nnrecipes.core.run_status import RunStatus
from nnrecipes.records.checkpoint import write_json

SUMMARY = "summary.json"


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
