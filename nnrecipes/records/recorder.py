"""``Recorder``: every write into a training run's folder, and the trackers told the same.

The run's loop and finish never write a file themselves: they hand the recorder what happened
(an epoch's row and checkpoints, the test outputs, the figures' inputs, the summary, a failure)
and the recorder writes it, atomically. Under torchrun only rank 0's recorder writes; the
others' are silent, so the run's code has no rank tests of its own. The torchvision references'
``save_on_master`` and the Hydra template's rank-zero logger are the same idea.
"""

from __future__ import annotations

import csv
import io
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from nnrecipes.components.loggers import Loggers, close_group, open_group, open_loggers
from nnrecipes.core.explain import describe
from nnrecipes.core.run_status import status_for
from nnrecipes.records.artifacts import write_model_summary, write_run_plots
from nnrecipes.records.checkpoint import save_checkpoint, write_atomically
from nnrecipes.records.provenance import command_line, environment_text
from nnrecipes.records.summary import write_summary

log = logging.getLogger("nnrecipes")
TEST_OUTPUTS = "test_outputs.npz"  # a cross-validation fold's test outputs, for the average
# The files besides the figures that trackers keep with a completed run.
RECORDS = ("summary.json", "metrics.csv", "environment.txt", "model.txt", ".hydra/config.yaml")


class Recorder:
    """The run folder ``run_dir`` and the chosen trackers; ``writes`` is False off rank 0."""

    def __init__(self, run_dir: Path, writes: bool = True, accepted: bool = True):
        self.run_dir, self.writes = Path(run_dir), writes
        # A run resumed in its own folder leaves it byte for byte as it was until its
        # checkpoint, config and data are accepted (records/resume.py); a new one owns it.
        self.accepted = accepted
        self.loggers = Loggers()

    def accept(self, on_accepted: Optional[Callable[[], None]] = None) -> None:
        """The run is accepted: from now on the folder is its to write (``on_accepted``
        rewrites the folder's record, on rank 0)."""
        self.accepted = True
        if on_accepted is not None and self.writes:
            on_accepted()

    @contextmanager
    def failures_recorded(self, overrides: Sequence[str]) -> Iterator[None]:
        """The one failure handler of a run: a failed or stopped run's summary.json says why
        (once the folder is the run's), and the trackers are told how it ended."""
        try:
            yield
        except Exception as error:
            if self.writes and self.accepted:
                record_failure(self.run_dir, error, overrides)
            self.loggers.ended(status_for(error))
            raise

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    def start(self, cfg, parent_dir: Optional[Path], history: List[Dict[str, float]],
              model, sample) -> None:
        """model.txt (its table logged too), environment.txt, then the chosen trackers (a
        resumed run's pick up after its history)."""
        if not self.writes:
            return
        log.info(write_model_summary(model, sample, self.run_dir))
        write_atomically(self.run_dir / "environment.txt", environment_text().encode())
        self.loggers = open_loggers(cfg, self.run_dir, parent_dir, history)

    def epoch_row(self, row: Dict[str, float]) -> None:
        if self.writes:
            self.loggers.epoch(row)

    def epoch_files(self, history: List[Dict[str, float]], best: Optional[bytes],
                    last: bytes) -> None:
        """metrics.csv, best.pt (where an epoch since the last write was best) and last.pt."""
        if not self.writes:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
        write_atomically(self.run_dir / "metrics.csv", buffer.getvalue().encode())
        if best is not None:
            write_atomically(self.checkpoints / "best.pt", best)
        write_atomically(self.checkpoints / "last.pt", last)

    def open_group(self, cfg) -> None:
        """The trackers' parent run of this folder's runs (a cross-validation's folds)."""
        if self.writes:
            open_group(cfg, self.run_dir)

    def close_group(self, cfg, ok: bool) -> None:
        if self.writes:
            close_group(cfg, self.run_dir, ok=ok)

    def compared_curves(self, histories: Dict[str, List[Dict[str, float]]], metric: str) -> None:
        """curves.png of several runs (a cross-validation's folds) on shared axes."""
        if self.writes:
            from nnrecipes.records import plots

            plots.compare_curves(histories, metric, self.run_dir / "curves.png")

    def output(self, name: str, payload: bytes) -> Path:
        """A file a mode makes in the folder (eval.json, lr_find.csv, a search's best config, a
        fold's or a trial's config), written atomically; its path."""
        path = self.run_dir / name
        if self.writes:
            write_atomically(path, payload)
        return path

    def best_checkpoint(self, state: Dict[str, Any]) -> None:
        """best.pt rewritten (a threshold tuned after training)."""
        if self.writes:
            save_checkpoint([self.checkpoints / "best.pt"], state)

    def test_outputs(self, outputs, targets) -> None:
        """A fold's test outputs and targets, which its cross-validation averages."""
        if not self.writes:
            return
        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, outputs=outputs.float().cpu().numpy(), targets=targets.cpu().numpy())
        write_atomically(self.run_dir / TEST_OUTPUTS, buffer.getvalue())

    def figures(self, data, history, outputs, threshold: float, note: str) -> List[Path]:
        if not self.writes:
            return []
        return write_run_plots(self.run_dir, data, history, outputs, threshold, note)

    def completed(self, summary: Dict[str, Any], figures: Sequence[Path] = ()) -> None:
        """summary.json, last, so that "completed" means the folder holds everything; then the
        trackers get the summary and the files."""
        if not self.writes:
            return
        write_summary(self.run_dir, summary)
        records = [self.run_dir / name for name in RECORDS if (self.run_dir / name).is_file()]
        self.loggers.completed(summary, [*figures, *records])


def record_failure(run_dir: Path, error: BaseException, overrides: Sequence[str]) -> None:
    """summary.json of a run that did not complete, so sweeps and scripts can tell why."""
    try:
        write_summary(Path(run_dir), {
            "status": status_for(error), "error": describe(error),
            "error_type": type(error).__name__, "command": command_line(overrides),
            "overrides": list(overrides)})
    except OSError as unwritable:  # the folder itself may be what failed: report the first error
        log.warning(f"could not record the failure in {run_dir}: {unwritable.strerror}")
