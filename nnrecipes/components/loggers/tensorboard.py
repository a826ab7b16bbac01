"""``logger=tensorboard``: event files in the run folder itself, so ``tensorboard --logdir
outputs`` finds every run and every sweep job, each named by its folder.

Per epoch: every column of metrics.csv (train_loss, the validation metrics, lr, seconds) under
the same names. At the start, the run's flattened config as an HParams session; at the end, the
test metrics and the best validation value as scalars (the HParams table's metric columns) and
the figures as images. No experiment summary is written: TensorBoard then builds the HParams
table from all sessions, so jobs of a sweep that pick different models (and so have different
keys) still share one table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Sequence

from nnrecipes.components.loggers import LoggerConfig, RunLogger
from nnrecipes.core.registry import declare
from nnrecipes.core.run_status import RunStatus

# What HParams shows of a session that did not complete.
END_STATUS = {RunStatus.completed: "STATUS_SUCCESS", RunStatus.interrupted: "STATUS_ABORTED",
              RunStatus.pruned: "STATUS_ABORTED", RunStatus.failed: "STATUS_FAILURE"}


@dataclass
class TensorBoardConfig(LoggerConfig):
    # The run's figures (curves, confusion matrix, ...) as TensorBoard images too.
    images: bool = True


def _hparams_summary(tag: str, **content: Any):
    """A Summary holding HParams plugin data (TensorBoard's own summary helpers for HParams
    import TensorFlow; its metadata module does not)."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    meta = metadata.create_summary_metadata(HParamsPluginData(**content))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])


def session_start(params: Dict[str, Any]):
    """The run's settings as an HParams session: numbers, text and booleans as they are,
    anything else (null, lists) as its text."""
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionStartInfo

    info = SessionStartInfo(start_time_secs=time.time())
    for key, value in params.items():
        if isinstance(value, bool):
            info.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[key].number_value = value
        else:
            info.hparams[key].string_value = "null" if value is None else str(value)
    return _hparams_summary(metadata.SESSION_START_INFO_TAG, session_start_info=info)


def session_end(status: RunStatus):
    from tensorboard.plugins.hparams import api_pb2, metadata
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionEndInfo

    code = api_pb2.Status.Value(END_STATUS.get(status, "STATUS_FAILURE"))
    return _hparams_summary(metadata.SESSION_END_INFO_TAG,
                            session_end_info=SessionEndInfo(status=code, end_time_secs=time.time()))


class TensorBoardLogger(RunLogger):
    def start(self, params: Dict[str, Any], history: Sequence[Dict[str, float]]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        done = len(history)
        # A resumed run writes on in its own folder; anything an interrupted attempt logged
        # after its last complete epoch is hidden, so each epoch shows once.
        self.writer = SummaryWriter(str(self.run_dir), purge_step=done + 1 if done else None)
        self.writer.file_writer.add_summary(session_start(params))
        self.writer.flush()

    def epoch(self, row: Dict[str, float]) -> None:
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()  # so a run in progress shows in TensorBoard epoch by epoch

    def completed(self, summary: Dict[str, Any], files: Sequence[Path]) -> None:
        step = summary["epochs_run"]
        for key, value in summary["test"].items():
            self.writer.add_scalar(f"test_{key}", value, step)
        self.writer.add_scalar(f"best_{summary['monitor']}", summary["best_val"], step)
        if self.settings.images:
            self._add_figures([path for path in files if path.suffix == ".png"], step)
        self._end(RunStatus.completed)

    def _add_figures(self, paths: Sequence[Path], step: int) -> None:
        import numpy as np
        from PIL import Image

        for path in paths:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            self.writer.add_image(path.stem, pixels, step, dataformats="HWC")

    def ended(self, status: RunStatus) -> None:
        self._end(status)

    def _end(self, status: RunStatus) -> None:
        self.writer.file_writer.add_summary(session_end(status))
        self.writer.close()


declare("logger", "tensorboard", TensorBoardConfig, TensorBoardLogger, module="tensorboard",
        extra="tensorboard")
