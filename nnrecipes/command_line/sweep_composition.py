"""Each job of a sequential sweep composed once instead of twice.

Hydra's sweeper composes every job's config before the first job runs, so that a job that
cannot be composed stops the sweep before any training; its sequential launcher then composes
each job again to run it. A composition reads and merges the config files anew, 0.1-0.2 s on
2 cores, a third of what a small job costs beyond its training (docs/benchmarks-archive.md). The
sequential launcher runs in the sweeper's process, so the config checked is the one it runs;
launchers in other processes (joblib, SLURM) compose their jobs there, as Hydra has them do.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

# A composed config holds about 0.4 MB: past this many jobs a sweep composes the rest twice, as
# Hydra does, rather than hold them all.
KEPT_AT_MOST = 256


class KeptCompositions:
    """The config loader the sequential launcher is given: a job's config is the one the
    sweeper composed to check it, taken (so it is held only until its job starts)."""

    def __init__(self, loader: Any, kept: Dict[Tuple[str, ...], Any]):
        self.loader, self.kept = loader, kept

    def load_sweep_config(self, master_config: Any, sweep_overrides: Sequence[str]) -> Any:
        config = self.kept.pop(tuple(sweep_overrides), None)
        if config is None:
            config = self.loader.load_sweep_config(master_config, list(sweep_overrides))
        return config

    def __getattr__(self, name: str) -> Any:  # the rest of Hydra's ConfigLoader, as it is
        return getattr(self.loader, name)


def compose_each_job_once() -> None:
    """Called before Hydra makes the sweeper: its check of a batch keeps what it composes."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    BasicSweeper.validate_batch_is_legal = check_and_keep


def check_and_keep(sweeper: Any, batch: Sequence[Sequence[str]]) -> None:
    """Hydra's check (every job of the batch composed), its configs handed to a sequential
    launcher; any other launcher is left to compose its jobs itself."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher
    from hydra.types import HydraContext

    context = sweeper.hydra_context  # the launcher's alone is replaced below
    loader = context.config_loader
    sequential = type(sweeper.launcher) is BasicLauncher
    kept: Dict[Tuple[str, ...], Any] = {}
    for overrides in batch:
        config = loader.load_sweep_config(master_config=sweeper.config,
                                          sweep_overrides=list(overrides))
        if sequential and len(kept) < KEPT_AT_MOST:
            kept[tuple(overrides)] = config
    if sequential:
        sweeper.launcher.hydra_context = HydraContext(
            config_loader=KeptCompositions(loader, kept), callbacks=context.callbacks)
