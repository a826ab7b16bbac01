"""How many CPU cores this process may use; no torch here, so the data layer can ask too."""

from __future__ import annotations

import os


def cores() -> int:
    """The cores this process may run on: its affinity (what taskset, or SLURM's task binding,
    gave it), and no more than a SLURM job's CPUs per task, which a node without task binding
    (task/none) allots but does not enforce: two 1-CPU jobs would each run a thread per core."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        usable = os.cpu_count() or 1
    allotted = os.environ.get("SLURM_CPUS_PER_TASK", "") if "SLURM_JOB_ID" in os.environ else ""
    return min(usable, int(allotted)) if allotted.isdigit() and int(allotted) > 0 else usable
