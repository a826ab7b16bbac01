"""``logger=mlflow``: each run an MLflow run; a sweep or search a parent run with its jobs as
children.

The store is ``logger.mlflow.tracking_uri``: MLFLOW_TRACKING_URI when set, else an SQLite file,
``outputs/mlflow.db``, in the folder nnrun started in, with artifacts beside it in
``outputs/mlartifacts`` (MLflow 3 has put its file store in maintenance mode and made SQLite its
default). Each MLflow run carries the path of its run folder as a tag, which is how a resumed run
finds its MLflow run again and a sweep job finds its parent: no id files in the run folder.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence
from urllib.parse import urlparse

from omegaconf import DictConfig

from nnrecipes.components.loggers import LoggerConfig, RunLogger
from nnrecipes.core.config import ConfigError
from nnrecipes.core.registry import declare
from nnrecipes.core.run_status import RunStatus

FOLDER_TAG = "nnrecipes_folder"
# MLflow's limits: values of params, and items per log_batch call.
PARAM_LENGTH, PARAMS_PER_BATCH = 6000, 100
END_STATUS = {RunStatus.completed: "FINISHED", RunStatus.interrupted: "KILLED",
              RunStatus.pruned: "KILLED", RunStatus.failed: "FAILED"}


@dataclass
class MlflowConfig(LoggerConfig):
    # Where runs are stored: an SQLite file (relative paths from the folder nnrun started in),
    # a server (http://host:5000), or anything MLflow takes.
    tracking_uri: str = "${oc.env:MLFLOW_TRACKING_URI,sqlite:///outputs/mlflow.db}"
    experiment: str = "nnrecipes"


def _local_sqlite(uri: str) -> Optional[Path]:
    """The database file of an sqlite:/// URI, made absolute; None for other stores."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix):]).expanduser().resolve() if uri.startswith(prefix) else None


# A server that stops answering mid-run: MLflow's client retries 7 times with growing waits
# (minutes) by default, each with a warning; 2 quick retries, then the tracker is left out.
RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
           "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
REACH_SECONDS = 5


def check_reachable(settings: DictConfig) -> None:
    """Before any work: a tracking server named by URL answers on its port. Otherwise one line
    says so, instead of MLflow's retries (warnings over minutes) before its own error."""
    uri = str(settings.tracking_uri)
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=REACH_SECONDS).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(f"logger.mlflow.tracking_uri={uri} cannot be reached ({reason}): "
                          f"start the MLflow server there, or point logger.mlflow.tracking_uri "
                          f"at a running one (or at a file: sqlite:///outputs/mlflow.db)") from None


def _client(settings: DictConfig):
    for name, value in RETRIES.items():  # a user's own setting wins
        os.environ.setdefault(name, value)
    from mlflow import MlflowClient

    # MLflow and the SQL libraries beneath it announce table creation and deprecations, and
    # urllib3 each retry; the run's own log is no place for them. (MLflow sets its logger's
    # level when imported.)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(mlflow|sqlalchemy)")

    database = _local_sqlite(settings.tracking_uri)
    if database is None:
        return MlflowClient(settings.tracking_uri), None
    database.parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(f"sqlite:///{database}"), (database.parent / "mlartifacts").as_uri()


def _experiment_id(client, settings: DictConfig, artifacts: Optional[str]) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(settings.experiment)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(settings.experiment, artifact_location=artifacts)
    except MlflowException:  # a parallel job created it first
        return client.get_experiment_by_name(settings.experiment).experiment_id


def _run_of(client, experiment: str, folder: Path):
    """The MLflow run that records ``folder``, or None."""
    quoted = str(folder).replace("'", "\\'")
    found = client.search_runs([experiment], f"tags.{FOLDER_TAG} = '{quoted}'", max_results=1)
    return found[0] if found else None


def _open_run(settings: DictConfig, folder: Path, name: str, parent: Optional[Path] = None):
    """The run that records ``folder``: found again (marked running), or created."""
    client, artifacts = _client(settings)
    experiment = _experiment_id(client, settings, artifacts)
    found = _run_of(client, experiment, folder)
    if found is not None:
        client.update_run(found.info.run_id, status="RUNNING")
        return client, found
    tags = {FOLDER_TAG: str(folder)}
    if parent is not None:
        parent_run = _run_of(client, experiment, parent) or \
            _open_run(settings, parent, parent.name)[1]
        tags["mlflow.parentRunId"] = parent_run.info.run_id
    return client, client.create_run(experiment, tags=tags, run_name=name)


class MlflowLogger(RunLogger):
    logged: frozenset = frozenset()  # the steps this MLflow run had when it (re)started

    def start(self, params: Dict[str, Any], history: Sequence[Dict[str, float]]) -> None:
        from mlflow.entities import Param

        self.client, run = _open_run(self.settings, self.run_dir, self.run_dir.name,
                                     self.parent_dir)
        self.run_id = run.info.run_id
        # Params cannot change once logged: a resume that changes one (trainer.epochs, say)
        # keeps the first value, and its own command is in the run's summary.json.
        new = [Param(key, str(value)[:PARAM_LENGTH]) for key, value in params.items()
               if key not in run.data.params]
        for first in range(0, len(new), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=new[first:first + PARAMS_PER_BATCH])
        # A stopped attempt may have logged epochs after the one its last.pt holds (epoch files
        # are written once a second at most); the resume replays them to the same values.
        self.logged = frozenset(
            item.step for item in self.client.get_metric_history(self.run_id, "train_loss"))
        for row in history:  # epochs of a resumed run that this MLflow run lacks
            self.epoch(row)

    def _metrics(self, values: Dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, float(value), now, step)
                                                    for key, value in values.items()])

    def epoch(self, row: Dict[str, float]) -> None:
        if int(row["epoch"]) in self.logged:
            return
        self._metrics({key: value for key, value in row.items() if key != "epoch"},
                      int(row["epoch"]))

    def completed(self, summary: Dict[str, Any], files: Sequence[Path]) -> None:
        metrics: Dict[str, float] = {f"test_{key}": value for key, value in summary["test"].items()}
        metrics[f"best_{summary['monitor']}"] = summary["best_val"]
        metrics["train_seconds"] = summary["train_seconds"]
        self._metrics(metrics, summary["epochs_run"])
        for path in files:
            self.client.log_artifact(self.run_id, str(path))
        self._end(RunStatus.completed)

    def ended(self, status: RunStatus) -> None:
        self._end(status)

    def _end(self, status: RunStatus) -> None:
        self.client.set_tag(self.run_id, "nnrecipes_status", status.value)
        self.client.set_terminated(self.run_id, END_STATUS.get(status, "FAILED"))

    @classmethod
    def open_group(cls, settings: DictConfig, parent_dir: Path) -> None:
        _open_run(settings, parent_dir, parent_dir.name)

    @classmethod
    def close_group(cls, settings: DictConfig, parent_dir: Path, ok: bool) -> None:
        client, run = _open_run(settings, parent_dir, parent_dir.name)
        client.set_terminated(run.info.run_id, "FINISHED" if ok else "FAILED")


declare("logger", "mlflow", MlflowConfig, MlflowLogger, module="mlflow", extra="mlflow",
        check=check_reachable)
