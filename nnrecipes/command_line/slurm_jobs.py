"""What nnrun adjusts in submitit (Hydra's SLURM launcher) for clusters as they are: quiet
polling where accounting is off, and one log for a job of several tasks.

submitit follows its jobs with ``sacct``, which fails on a cluster without accounting
(AccountingStorageType=accounting_storage/none, common on small clusters): every poll then
prints sacct's error and submitit's warning, and a job that ended without a result (cancelled,
killed) is never seen to end. There nnrun follows the jobs with ``squeue`` instead, which every
cluster has; it knows a job until MinJobAge (300 s by default) after the job ends, after which
submitit goes by the job's result file, as it does for any state it cannot read.
"""

from __future__ import annotations

import logging
import re
import subprocess

from nnrecipes.run.torchrun import torchrun_rank

log = logging.getLogger("nnrecipes")


def accounting_off() -> bool:
    """Whether this cluster keeps no accounting (sacct cannot answer)."""
    try:
        done = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    found = re.search(r"^AccountingStorageType\s*=\s*(\S+)", done.stdout, re.MULTILINE)
    return bool(found) and found.group(1) == "accounting_storage/none"


def follow_jobs_with_squeue() -> None:
    """Have submitit read its jobs' states from squeue (where accounting is off)."""
    from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

    class SqueueWatcher(SlurmInfoWatcher):
        def _make_command(self):
            if not self._registered - self._finished:
                return None
            # Every job of this user: never an error for a job squeue has already forgotten.
            return ["squeue", "--me", "--noheader", "--states=all", "--format=%i|%T|%N"]

        def read_info(self, string):
            text = string.decode() if isinstance(string, bytes) else string
            return super().read_info("JobID|State|NodeList\n" + text)

    SlurmJob.watcher = SqueueWatcher(delay_s=SlurmJob.watcher._delay_s)


def prepare_launcher(launcher_target: str) -> None:
    """Before a sweep's jobs are sent: quiet polling on a SLURM cluster without accounting."""
    if launcher_target.endswith("submitit_launcher.SlurmLauncher") and accounting_off():
        follow_jobs_with_squeue()
        log.debug("this SLURM cluster keeps no accounting: jobs followed with squeue")


def only_rank_zero_writes_the_log() -> None:
    """The tasks of a SLURM job with tasks_per_node > 1 share the job's folder, whose log Hydra
    opened in each: rank 0 writes it; the others speak only of errors, in their own SLURM
    output file."""
    if not torchrun_rank():
        return
    log.setLevel(logging.WARNING)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
