"""Who may write a run or sweep folder named on the command line.

One nnrun at a time: the folder is locked with ``flock`` on the folder itself, a lock the OS
drops when the process ends, however it ends (a SIGKILLed run never leaves its folder locked),
and that adds no file. And never over another run's results: a folder that already holds a run
or a sweep is refused unless the command resumes it or passes ``--overwrite``. Folders that nnrun
names itself (``outputs/<date>/<time>_...``) are claimed by an atomic mkdir and need neither.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Iterator, List, Optional

from nnrecipes.core.config import ConfigError
from nnrecipes.core.overrides import override_value
from nnrecipes.core.run_status import RunStatus
from nnrecipes.records.summary import read_summary

# What makes a folder an nnrun run: any of these inside it.
RUN_MARKERS = (".hydra", "summary.json", "checkpoints", "metrics.csv")
# What nnrun writes into a run folder and a sweep folder: all that --overwrite removes.
RUN_FILES = (*RUN_MARKERS, "nnrun.log", "model.txt", "environment.txt", "eval.json", "curves.png",
             "confusion_matrix.png", "predictions.png", "regression.png")
SWEEP_FILES = ("multirun.yaml", "sweep_summary.csv", "sweep_groups.csv", "rerun_failed.sh",
               "sweep_lr.png", "sweep_heatmap.png", "study.db", "experiment")
# What a run that stopped before its first epoch ended leaves: its record of the attempt only.
ATTEMPT_FILES = {".hydra", "nnrun.log", "summary.json", "model.txt", "environment.txt"}
# Flags after which nnrun prints and exits without running anything.
NO_RUN_FLAGS = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--shell-completion",
                "--version", "--resolve")


def named_folder(args: List[str], multirun: bool) -> Optional[Path]:
    """The run (or sweep) folder the command line names with hydra.run.dir (hydra.sweep.dir),
    if it is a plain path and the command runs anything."""
    value = override_value(args, "hydra.sweep.dir" if multirun else "hydra.run.dir")
    if value is None or "${" in value or any(arg.split("=")[0] in NO_RUN_FLAGS for arg in args):
        return None
    return Path(value).expanduser()


def holds_a_sweep(folder: Path) -> bool:
    return folder.is_dir() and ((folder / "multirun.yaml").exists() or
                                any(holds_a_run(child) for child in folder.iterdir()
                                    if child.is_dir()))


def holds_a_run(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).exists() for name in RUN_MARKERS)


def _clear(folder: Path, names) -> None:
    for name in names:
        target = folder / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def never_trained(folder: Path) -> bool:
    """A run folder whose run stopped before its first epoch ended (refused data, a missing
    extra): nothing in it is a result, so the next run may take the folder."""
    try:
        status = read_summary(folder).get("status")
    except ValueError:  # a corrupt summary.json: leave the folder to the user
        return False
    entries = {entry.name for entry in folder.iterdir()}
    return entries <= ATTEMPT_FILES and status in (None, RunStatus.failed.value)


def _refuse_or_clear(folder: Path, multirun: bool, resuming: bool, overwrite: bool) -> None:
    holds = holds_a_sweep(folder) if multirun else holds_a_run(folder)
    if not holds or resuming:
        return
    if not multirun and never_trained(folder):
        print(f"nnrun: {folder} holds a run that stopped before its first epoch ended; "
              f"this run replaces its record")
        _clear(folder, RUN_FILES)
        return
    jobs = [child for child in folder.iterdir() if child.is_dir() and holds_a_run(child)]
    if multirun and jobs and all(never_trained(job) for job in jobs):
        print(f"nnrun: {folder} holds a sweep none of whose jobs trained an epoch; this sweep "
              f"replaces its records")
        overwrite = True
    if overwrite:
        _clear(folder, SWEEP_FILES if multirun else RUN_FILES)
        if multirun:
            for job in [child for child in folder.iterdir() if holds_a_run(child)]:
                shutil.rmtree(job)
        return
    what, key, resume = (("a sweep", "hydra.sweep.dir", "sweep.resume=true") if multirun
                         else ("a run", "hydra.run.dir", f"resume={folder}"))
    raise ConfigError(f"{key}={folder} already holds {what}; nnrun does not write over it. "
                      f"Continue it with {resume}, pass --overwrite to replace it, or pick "
                      f"another folder")


@contextlib.contextmanager
def claimed(folder: Optional[Path], multirun: bool, resuming: bool,
            overwrite: bool) -> Iterator[None]:
    """Within the block this process alone writes ``folder`` (named_folder's), if any;
    ``resuming``: the command continues what the folder holds (resume.command_resumes)."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{folder} is in use: another nnrun is writing into it right now. "
                              f"Wait for it to end, or write elsewhere with "
                              f"{'hydra.sweep.dir' if multirun else 'hydra.run.dir'}=DIR") from None
        _refuse_or_clear(folder, multirun, resuming, overwrite)
        yield
    finally:
        os.close(handle)  # closing drops the lock


# What a command refused before its work began leaves: its record, and no result.
REFUSED_RECORD = (".hydra", "nnrun.log", "summary.json", "environment.txt", "model.txt")


def drop_refused(run_dir: Path) -> None:
    """Remove the folder of a new run refused before any result (a bad value, data that cannot
    be used): the error line said all, and an empty run folder is clutter in outputs/. Kept
    where it holds anything else, or a record other than a failure's."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or read_summary(run_dir).get("status") not in (None,
                                                                          RunStatus.failed):
        return
    if all(entry.name in REFUSED_RECORD for entry in run_dir.iterdir()):
        remove_run_folder(run_dir)


def remove_run_folder(folder: Path) -> None:
    """Remove ``folder``, first closing the log files this process keeps open in it."""
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and \
                Path(handler.baseFilename).resolve().is_relative_to(Path(folder).resolve()):
            root.removeHandler(handler)
            handler.close()
    shutil.rmtree(folder, ignore_errors=True)
