"""logger=tensorboard and logger=mlflow, read back with TensorBoard's own event reader and MLflow's
client: sweeps, a run interrupted and resumed, a missing extra. Each test skips, saying why, when
its extra is not installed."""

import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from test_cli import nnrun_command
from test_distributed import OVERRIDES as DISTRIBUTED
from test_distributed import torchrun
from test_interrupt import OVERRIDES as INTERRUPTIBLE
from test_interrupt import rows

from nnrecipes.components import loggers

SWEEP = ("dataset=iris", "trainer.epochs=2", "trainer.progress=false", "trainer.baseline=off",
         "optimizer.lr=0.1,0.01,0.001", "dataset.batch_size=16,32,64")


def needs(module: str):
    return pytest.importorskip(module, reason=f"the {module} extra is not installed "
                                              f"(pip install 'nnrecipes[{module}]')")


def events(folder: Path):
    needs("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0}).Reload()


def hparams_session(accumulator):
    """The run's HParams session start info, as TensorBoard's hparams plugin reads it."""
    from tensorboard.plugins.hparams import metadata

    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    return metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])


def steps(accumulator, tag):
    return [event.step for event in accumulator.Scalars(tag)]


def mlflow_client(database: Path):
    needs("mlflow")
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{database}")


def test_a_tensorboard_sweep_has_every_jobs_scalars_and_nine_hparams_sessions(tmp_path):
    needs("tensorboard")
    assert run_cli("-m", *SWEEP, "logger=tensorboard", "trainer.plots=true",
                   f"hydra.sweep.dir={tmp_path}") == 0
    sessions = {}
    for job in sorted(path for path in tmp_path.iterdir() if path.name.isdigit()):
        run = events(job)
        scalars = set(run.Tags()["scalars"])
        assert {"train_loss", "val_loss", "val_accuracy", "lr", "seconds", "test_accuracy",
                "best_val_accuracy"} <= scalars
        assert steps(run, "train_loss") == steps(run, "val_accuracy") == [1, 2]
        assert {"curves", "confusion_matrix"} <= set(run.Tags()["images"])
        hparams = hparams_session(run).hparams
        sessions[job.name] = (hparams["optimizer.lr"].number_value,
                              hparams["dataset.batch_size"].number_value,
                              run.Scalars("best_val_accuracy")[-1].value)
        assert hparams["model.name"].string_value == "tabular"  # the default for tables
    assert len(sessions) == 9
    assert {(lr, batch) for lr, batch, _ in sessions.values()} == {
        (lr, batch) for lr in (0.1, 0.01, 0.001) for batch in (16, 32, 64)}
    assert all(0 <= value <= 1 for _, _, value in sessions.values())


def test_an_mlflow_sweep_is_one_parent_with_nine_children(tmp_path):
    needs("mlflow")
    database = tmp_path / "store" / "mlflow.db"
    assert run_cli("-m", *SWEEP, "logger=mlflow", f"logger.mlflow.tracking_uri=sqlite:///"
                   f"{database}", f"hydra.sweep.dir={tmp_path / 'sweep'}") == 0
    client = mlflow_client(database)
    experiment = client.get_experiment_by_name("nnrecipes")
    found = client.search_runs([experiment.experiment_id])
    parents = [run for run in found if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in found if "mlflow.parentRunId" in run.data.tags]
    assert len(parents) == 1 and len(children) == 9
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnrecipes_folder"] == str(tmp_path / "sweep")
    settings = set()
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        settings.add((child.data.params["optimizer.lr"], child.data.params["dataset.batch_size"]))
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert sorted(item.step for item in history) == [1, 2]
        assert "test_accuracy" in child.data.metrics
        artifacts = {item.path for item in client.list_artifacts(child.info.run_id)}
        assert {"summary.json", "metrics.csv", "environment.txt"} <= artifacts
        assert "curves.png" not in artifacts  # a sweep's jobs draw none unless trainer.plots=true
    assert settings == {(lr, batch) for lr in ("0.1", "0.01", "0.001")
                        for batch in ("16", "32", "64")}


def test_an_interrupted_run_resumes_into_its_own_tensorboard_and_mlflow_runs(tmp_path):
    needs("tensorboard"), needs("mlflow")
    database = tmp_path / "mlflow.db"
    run_dir = tmp_path / "interrupted"
    chosen = ("logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri=sqlite:///{database}")
    process = subprocess.Popen([nnrun_command(), *INTERRUPTIBLE, *chosen,
                                f"hydra.run.dir={run_dir}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while rows(run_dir) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, output
    client = mlflow_client(database)
    [stopped] = client.search_runs([client.get_experiment_by_name("nnrecipes").experiment_id])
    assert stopped.info.status == "KILLED"
    assert 3 <= len(client.get_metric_history(stopped.info.run_id, "train_loss")) < 12

    assert run_cli(f"resume={run_dir}", "trainer.progress=false") == 0
    [resumed] = client.search_runs([client.get_experiment_by_name("nnrecipes").experiment_id])
    assert resumed.info.run_id == stopped.info.run_id and resumed.info.status == "FINISHED"
    history = client.get_metric_history(resumed.info.run_id, "train_loss")
    assert sorted(item.step for item in history) == list(range(1, 13))
    board = events(run_dir)
    assert steps(board, "train_loss") == list(range(1, 13))
    assert hparams_session(board).hparams["model.name"].string_value == "cnn"


def test_several_loggers_and_a_search_record_trials_under_one_parent(tmp_path):
    needs("tensorboard"), needs("mlflow")
    database = tmp_path / "mlflow.db"
    search_dir = tmp_path / "search"
    assert run_cli("mode=search", "dataset=iris", "search.trials=3", "trainer.epochs=2",
                   "trainer.progress=false", "logger=[tensorboard,mlflow]",
                   f"logger.mlflow.tracking_uri=sqlite:///{database}",
                   f"hydra.run.dir={search_dir}") == 0
    client = mlflow_client(database)
    found = client.search_runs([client.get_experiment_by_name("nnrecipes").experiment_id])
    [parent] = [run for run in found if "mlflow.parentRunId" not in run.data.tags]
    assert parent.data.tags["nnrecipes_folder"] == str(search_dir)
    assert len(found) == 4 and parent.info.status == "FINISHED"
    for trial in sorted(search_dir.glob("trial_*")):
        assert steps(events(trial), "train_loss")


def test_a_failed_run_is_marked_failed_in_both(tmp_path):
    needs("tensorboard"), needs("mlflow")
    database = tmp_path / "mlflow.db"
    assert run_cli("optimizer.lr=1e12", "trainer.progress=false", "logger=[tensorboard,mlflow]",
                   f"logger.mlflow.tracking_uri=sqlite:///{database}",
                   f"hydra.run.dir={tmp_path / 'run'}") == 2
    client = mlflow_client(database)
    [run] = client.search_runs([client.get_experiment_by_name("nnrecipes").experiment_id])
    assert run.info.status == "FAILED" and run.data.tags["nnrecipes_status"] == "failed"
    from tensorboard.plugins.hparams import api_pb2, metadata

    content = events(tmp_path / "run").PluginTagToContent(metadata.PLUGIN_NAME)
    ended = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert ended.status == api_pb2.STATUS_FAILURE


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_under_torchrun_only_rank_0_logs(tmp_path):
    needs("tensorboard"), needs("mlflow")
    database = tmp_path / "mlflow.db"
    run_dir = tmp_path / "two_processes"
    done = torchrun(run_dir, *DISTRIBUTED, "logger=[tensorboard,mlflow]",
                    f"logger.mlflow.tracking_uri=sqlite:///{database}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert steps(events(run_dir), "train_loss") == [1, 2, 3]
    client = mlflow_client(database)
    [run] = client.search_runs([client.get_experiment_by_name("nnrecipes").experiment_id])
    assert sorted(item.step for item in client.get_metric_history(run.info.run_id,
                                                                  "train_loss")) == [1, 2, 3]


def test_a_store_that_cannot_be_opened_stops_the_run_in_one_line(tmp_path, capsys):
    needs("mlflow")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run_cli("logger=mlflow", f"logger.mlflow.tracking_uri=sqlite:///{blocker}/x/m.db",
                   f"hydra.run.dir={tmp_path / 'run'}") == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("error: logger=mlflow could not start: ")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    real = loggers.importlib.util.find_spec
    monkeypatch.setattr(loggers.importlib.util, "find_spec",
                        lambda name, *rest: None if name == "mlflow" else real(name, *rest))
    assert run_cli("logger=mlflow", f"hydra.run.dir={tmp_path / 'run'}") == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if "error" in line]
    assert errors == ["error: logger=mlflow needs the mlflow extra: "
                      "pip install 'nnrecipes[mlflow]'"]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_cross_validation_is_one_mlflow_parent_with_a_child_per_fold(tmp_path):
    needs("mlflow")
    database = tmp_path / "store" / "mlflow.db"
    assert run_cli("dataset=iris", "trainer.folds=3", "trainer.epochs=2", "trainer.plots=false",
                   "trainer.progress=false", "logger=mlflow",
                   f"logger.mlflow.tracking_uri=sqlite:///{database}",
                   f"hydra.run.dir={tmp_path / 'cv'}") == 0
    client = mlflow_client(database)
    found = client.search_runs([client.get_experiment_by_name("nnrecipes").experiment_id])
    [parent] = [run for run in found if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in found if "mlflow.parentRunId" in run.data.tags]
    assert parent.info.status == "FINISHED" and parent.data.tags["nnrecipes_folder"] == str(
        tmp_path / "cv")
    assert sorted(child.data.params["trainer.fold"] for child in children) == ["1", "2", "3"]
    assert all(child.data.tags["mlflow.parentRunId"] == parent.info.run_id for child in children)
