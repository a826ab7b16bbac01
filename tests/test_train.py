"""Train every offline dataset x model through nnrun's own path and check the run directory."""

import itertools
import json

import pytest
import torch
from conftest import RunResult

from nnrecipes import cli
from nnrecipes.core.task import task_metrics
from nnrecipes.data import build_data
from nnrecipes.records import recorder as recorder_module
from nnrecipes.run import loop as loop_module
from nnrecipes.run import train as train_module

OFFLINE = {"iris": "multiclass", "wine": "multiclass", "breast_cancer": "binary",
           "diabetes": "regression", "digits": "multiclass"}
CASES = [(dataset, model) for dataset in OFFLINE for model in ("perceptron", "mlp")]
CASES.append(("digits", "cnn"))


def assert_complete_run_dir(run, task, epochs):
    assert (run.dir / ".hydra" / "config.yaml").is_file()
    assert (run.dir / ".hydra" / "overrides.yaml").is_file()
    assert (run.dir / "nnrun.log").stat().st_size > 0
    rows = run.metrics_rows()
    assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    expected = {"epoch", "lr", "train_loss", "val_loss", "seconds",
                *(f"val_{name}" for name in task_metrics(task))}
    assert set(rows[0]) == expected
    summary = run.summary
    assert summary["status"] == "completed"
    assert summary["task"] == task
    assert "loss" in summary["test"]
    assert ("r2" if task == "regression" else "accuracy") in summary["test"]
    assert set(task_metrics(task)) <= set(summary["test"])
    for key in ("best_epoch", "wall_seconds", "parameters", "device", "versions", "command"):
        assert key in summary
    assert summary["versions"]["torch"] == torch.__version__.split("+")[0] or \
        summary["versions"]["torch"] == torch.__version__
    for name in ("best.pt", "last.pt"):
        assert (run.dir / "checkpoints" / name).is_file()


@pytest.mark.parametrize("dataset,model", CASES)
def test_offline_dataset_trains_into_a_complete_run_dir(nnrun, dataset, model):
    run = nnrun(f"dataset={dataset}", f"model={model}", "trainer.epochs=1")
    assert_complete_run_dir(run, OFFLINE[dataset], epochs=1)


def test_classification_learns_something(nnrun):
    run = nnrun("dataset=iris", "trainer.epochs=60", "optimizer.lr=0.01")
    assert run.summary["test"]["accuracy"] >= 0.9


def test_regression_reports_real_units(nnrun):
    run = nnrun("dataset=diabetes", "trainer.epochs=20")
    test = run.summary["test"]
    assert test["rmse"] == pytest.approx(test["mse"] ** 0.5)
    # Diabetes targets range 25-346: an RMSE in standardised units would be near 1.
    assert test["rmse"] > 20
    assert test["r2"] > 0.2


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_trains(nnrun, optimizer):
    run = nnrun(f"optimizer={optimizer}", "trainer.epochs=2")
    assert len(run.metrics_rows()) == 2


@pytest.mark.parametrize("scheduler", ["none", "step", "cosine", "onecycle"])
def test_every_scheduler_sets_the_learning_rate(nnrun, scheduler):
    run = nnrun(f"scheduler={scheduler}", "trainer.epochs=4", "scheduler.step_epochs=2"
                if scheduler == "step" else "seed=0")
    lrs = [float(row["lr"]) for row in run.metrics_rows()]
    if scheduler == "none":
        assert lrs == [lrs[0]] * 4
    elif scheduler == "step":
        assert lrs[0] == lrs[1] > lrs[2] == lrs[3]
    elif scheduler == "cosine":
        assert lrs == sorted(lrs, reverse=True) and lrs[-1] < lrs[0]
    else:
        assert lrs[0] < max(lrs)


def test_same_seed_gives_identical_metrics(nnrun):
    first, second = (nnrun("dataset=wine", "trainer.epochs=3") for _ in range(2))
    assert without_seconds(first.metrics_rows()) == without_seconds(second.metrics_rows())
    assert first.summary["test"] == second.summary["test"]


def test_device_threads_last_for_their_own_run_only(nnrun):
    # A resumed run inherits its device.threads; the next run in the process must not.
    from nnrecipes.run.devices import resolve_device

    resolve_device("cpu")  # this process's default for a run (an earlier run may have chosen 1)
    default = torch.get_num_threads()
    threads = lambda run: run.summary["device_name"].rsplit(", ", 1)[-1]  # noqa: E731
    assert threads(nnrun("trainer.epochs=1", f"device.threads={default + 1}")) == \
        f"{default + 1} threads"
    # a network with work for every thread (0.9 GFLOP a batch)
    assert threads(nnrun("trainer.epochs=1", "model.hidden_sizes=[2048,2048]",
                         "dataset.batch_size=512")) == f"{default} threads"
    assert torch.get_num_threads() == default


def test_a_small_network_trains_on_one_thread(nnrun):
    # iris's MLP: 0.55 MFLOP a batch, which a second thread only slows (scripts/busy_machine.py)
    from nnrecipes.run.devices import resolve_device

    resolve_device("cpu")
    default = torch.get_num_threads()
    run = nnrun("model=mlp", "trainer.epochs=1")
    assert run.summary["device_name"].endswith(", 1 threads")
    if default > 1:  # said in the log, with the way to choose
        assert "device.threads=1: 0.553 MFLOP a batch keeps 1 thread busy (set device.threads" \
            in (run.dir / "nnrun.log").read_text()


def test_early_stopping_stops_when_the_metric_stalls(nnrun):
    run = nnrun("trainer.epochs=10", "trainer.patience=2", "trainer.monitor=loss",
                "trainer.min_delta=100")
    assert run.summary["epochs_run"] == 3
    assert run.summary["best_epoch"] == 1


def test_gradient_clipping_runs(nnrun):
    run = nnrun("trainer.epochs=1", "trainer.grad_clip=0.5")
    assert run.summary["status"] == "completed"


def test_scaler_is_fit_on_the_training_split_only(composed):
    cfg = composed("dataset=breast_cancer")
    data = build_data(cfg.dataset, cfg.seed, torch.device("cpu"))
    train_mean = data.train.x.double().mean(dim=0).float()
    all_mean = torch.cat([data.train.x, data.val.x, data.test.x]).double().mean(dim=0).float()
    assert torch.allclose(data.stats["input_mean"], train_mean, rtol=1e-4)
    assert not torch.allclose(data.stats["input_mean"], all_mean, rtol=1e-4)


def test_splits_are_disjoint_and_stratified(composed):
    data = build_data(composed("dataset=iris").dataset, 0, torch.device("cpu"))
    rows = [tuple(row.tolist()) for split in (data.train, data.val, data.test) for row in split.x]
    assert len(rows) == 150
    assert torch.bincount(data.test.y).tolist() == [10, 10, 10]


def test_limit_uses_only_the_first_samples(nnrun):
    run = nnrun("dataset=digits", "dataset.limit=100", "trainer.epochs=1")
    samples = run.summary["samples"]
    assert samples["train"] + samples["val"] == 100


def test_resume_after_a_kill_ends_like_an_uninterrupted_run(nnrun, monkeypatch, tmp_path):
    """A kill in epoch 3 leaves last.pt of epoch 2 (files written after every epoch here);
    resuming runs epochs 3-4 in the same folder."""
    overrides = ("dataset=wine", "trainer.epochs=4", "model.dropout=0.2")
    whole = nnrun(*overrides)
    monkeypatch.setattr(loop_module, "WRITE_EVERY_SECONDS", 0)

    real_run_epoch = loop_module.train_and_validate

    def killed_in_epoch_three(run, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_run_epoch(run, epoch)

    monkeypatch.setattr(loop_module, "train_and_validate", killed_in_epoch_three)
    killed = tmp_path / "killed"
    with pytest.raises(SystemExit) as stopped:
        nnrun(*overrides, run_dir=killed)
    assert stopped.value.code == 130  # what a shell reports for Ctrl-C
    assert len(RunResult(killed).metrics_rows()) == 2
    monkeypatch.setattr(loop_module, "train_and_validate", real_run_epoch)

    cli.main([f"resume={killed}", "trainer.progress=false"])
    resumed = RunResult(killed)
    assert resumed.summary["test"] == whole.summary["test"]
    assert resumed.summary["best_epoch"] == whole.summary["best_epoch"]
    assert without_seconds(resumed.metrics_rows()) == without_seconds(whole.metrics_rows())


def without_seconds(rows):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


def test_eval_mode_tests_a_checkpoint_without_training(nnrun):
    trained = nnrun("dataset=breast_cancer", "trainer.epochs=3")
    evaluated = nnrun("mode=eval", f"checkpoint={trained.dir}")
    result = json.loads((evaluated.dir / "eval.json").read_text())
    assert result["test"] == pytest.approx(trained.summary["test"])
    assert not (evaluated.dir / "checkpoints").exists()


def test_train_called_directly_makes_its_new_folder(composed, tmp_path):
    # scripts/benchmark.py and users' own scripts call train() with a folder no launcher made.
    run_dir = tmp_path / "not" / "yet"
    summary = train_module.train(composed("trainer.epochs=1", "trainer.progress=false"), run_dir)
    assert summary["status"] == "completed"
    assert {"model.txt", "summary.json", "metrics.csv"} <= {p.name for p in run_dir.iterdir()}


def test_short_epochs_write_their_files_every_few_seconds_and_resume_from_what_was_written(
        nnrun, monkeypatch, tmp_path):
    """metrics.csv and the checkpoints are written when WRITE_EVERY_SECONDS have passed and
    after the last epoch, the best epoch's checkpoint kept until then: the run ends as one that
    writes after every epoch. A stop resumes from the epoch last.pt holds."""
    overrides = ("dataset=wine", "trainer.epochs=30", "trainer.baseline=off")
    writes = []
    write = recorder_module.write_atomically

    def counting(path, payload):
        writes.append(path.name)
        return write(path, payload)

    monkeypatch.setattr(recorder_module, "write_atomically", counting)
    monkeypatch.setattr(loop_module, "WRITE_EVERY_SECONDS", 0)
    every_epoch = nnrun(*overrides, run_dir=tmp_path / "every")
    assert writes.count("last.pt") == writes.count("metrics.csv") == 30
    writes.clear()
    # A clock read once per epoch (and once before the first): a second an epoch.
    monkeypatch.setattr(loop_module, "WRITE_EVERY_SECONDS", 5)
    monkeypatch.setattr(loop_module, "clock", itertools.count().__next__)
    fifth = nnrun(*overrides, run_dir=tmp_path / "fifth")
    assert writes.count("last.pt") == writes.count("metrics.csv") == 6  # epochs 5, 10, ... 30
    assert 1 <= writes.count("best.pt") <= 6
    assert fifth.summary["test"] == every_epoch.summary["test"]
    assert fifth.summary["best_epoch"] == every_epoch.summary["best_epoch"]
    assert without_seconds(fifth.metrics_rows()) == without_seconds(every_epoch.metrics_rows())
    best = [torch.load(run.dir / "checkpoints" / "best.pt", weights_only=True)["model"]
            for run in (every_epoch, fifth)]
    assert all(torch.equal(best[0][key], best[1][key]) for key in best[0])

    real_run_epoch = loop_module.train_and_validate

    def stopped_in_epoch_eighteen(run, epoch):
        if epoch == 18:
            raise KeyboardInterrupt
        return real_run_epoch(run, epoch)

    monkeypatch.setattr(loop_module, "clock", itertools.count().__next__)
    monkeypatch.setattr(loop_module, "train_and_validate", stopped_in_epoch_eighteen)
    with pytest.raises(SystemExit):
        nnrun(*overrides, run_dir=tmp_path / "stopped")
    saved = torch.load(tmp_path / "stopped" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["progress"]["epoch"] == 15 == len(RunResult(tmp_path / "stopped").metrics_rows())
    monkeypatch.setattr(loop_module, "train_and_validate", real_run_epoch)
    cli.main([f"resume={tmp_path / 'stopped'}", "trainer.progress=false"])
    resumed = RunResult(tmp_path / "stopped")
    assert resumed.summary["test"] == every_epoch.summary["test"]
    assert without_seconds(resumed.metrics_rows()) == without_seconds(every_epoch.metrics_rows())


def test_a_tiny_validation_split_is_said_once_without_library_warnings(nnrun, recwarn):
    # one validation row: scikit-learn warns of a single label at every epoch's scoring
    run = nnrun("dataset.val_size=1", "trainer.epochs=3")
    assert not [warning for warning in recwarn if "sklearn" in warning.filename]
    log = (run.dir / "nnrun.log").read_text()
    assert "holds too few of the classes: its balanced accuracy and F1 say little" in log


def test_the_figure_says_why_training_loss_is_above_validation_loss():
    from nnrecipes.run.finish import _harder_in_training

    config = {"trainer": {"label_smoothing": 0.1, "ema": None},
              "dataset": {"augment": ["flip"]}, "model": {"dropout": 0.2}}
    assert _harder_in_training(config) == \
        "label smoothing 0.1, augmented batches (flip), dropout 0.2"
    plain = {"trainer": {"label_smoothing": 0.0}, "dataset": {}, "model": {}}
    assert _harder_in_training(plain) == ""
