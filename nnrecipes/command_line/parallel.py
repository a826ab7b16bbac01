"""How many jobs a sweep's launcher runs side by side, so that each takes its share of the cores
(``devices.share_cores``) instead of all of them."""

from __future__ import annotations

from typing import Any, Mapping


def jobs_side_by_side(launcher: Mapping[str, Any], cores: int) -> int:
    """From the launcher's config (``hydra.launcher``) and the cores this process may use."""
    target = str(launcher.get("_target_", ""))
    if target.endswith("JoblibLauncher"):
        n_jobs = launcher.get("n_jobs") or 1  # joblib's rule: -1 every core, -2 all but one, ...
        return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    if target.endswith("submitit_launcher.LocalLauncher"):
        # It starts every job at once; cpus_per_task is the share the user gave each.
        per_task = launcher.get("cpus_per_task")
        return max(1, cores // per_task) if per_task else cores
    return 1  # the sequential launcher; SLURM gives each job its own cores (its affinity)
