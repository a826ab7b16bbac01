"""Multirun sweeps: summary, failure policy, resume, no collisions; the Optuna search."""

import csv
import json
import subprocess
import sys

import pytest
import torch
import yaml

from nnrecipes import cli
from nnrecipes.command_line.parallel import jobs_side_by_side
from nnrecipes.core.config import unique_dir
from nnrecipes.run.devices import cores

JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SUBMITIT_LOCAL = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"

FAST = ("trainer.epochs=2", "trainer.progress=false")


def sweep(tmp_path, *overrides, name="sweep"):
    """Run ``nnrun -m`` in-process; returns (exit code, sweep dir)."""
    sweep_dir = tmp_path / name
    try:
        cli.main(["-m", *FAST, *overrides, f"hydra.sweep.dir={sweep_dir}"])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    return code, sweep_dir


def summary_rows(sweep_dir):
    with open(sweep_dir / "sweep_summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_grid_sweep_writes_a_ranked_summary_of_every_job(tmp_path, capsys):
    code, sweep_dir = sweep(tmp_path, "dataset=iris", "optimizer.lr=0.1,0.01,0.001",
                            "dataset.batch_size=32,64,128")
    assert code == 0
    rows = summary_rows(sweep_dir)
    assert len(rows) == 9 and {row["status"] for row in rows} == {"completed"}
    assert len({row["overrides"] for row in rows}) == 9
    vals = [float(row["val"]) for row in rows]
    assert vals == sorted(vals, reverse=True)
    out = capsys.readouterr().out
    assert "ranked by val_accuracy" in out and "★" in out and "best: job" in out
    assert not (sweep_dir / "rerun_failed.sh").exists()


def test_jobs_that_tie_on_the_metric_are_ranked_by_validation_loss_and_told(tmp_path, capsys):
    # iris's 15 validation rows: every job reaches val_accuracy 1 within 30 epochs
    code, sweep_dir = sweep(tmp_path, "dataset=iris", "trainer.epochs=30",
                            "optimizer.lr=0.1,0.03,0.01")
    assert code == 0
    rows = summary_rows(sweep_dir)
    assert {row["val"] for row in rows} == {"1.0"}
    losses = [float(row["val_loss"]) for row in rows]
    assert losses == sorted(losses)
    out = capsys.readouterr().out
    assert "ranked by val_accuracy, then" in " ".join(out.split())
    assert "3 jobs tie on val_accuracy 1.0000: among them the lowest validation loss ranks " \
        "first" in out


def test_a_sweep_of_range_tests_names_no_winner(tmp_path, capsys):
    code, sweep_dir = sweep(tmp_path, "mode=lr_find", "dataset=wine", "lr_find.steps=30",
                            "dataset.batch_size=16,32")
    assert code == 0
    out = capsys.readouterr().out
    assert "learning-rate range tests (mode=lr_find): nothing to rank" in out
    assert "best: job" not in out and "★" not in out
    rows = summary_rows(sweep_dir)
    assert [row["kind"] for row in rows] == ["learning-rate range test"] * 2


def test_failed_jobs_do_not_stop_the_sweep(tmp_path, capsys):
    # model=mlp: SGD at 1e12 makes its loss NaN within the sweep's two epochs
    code, sweep_dir = sweep(tmp_path, "model=mlp", "optimizer=sgd", "optimizer.lr=0.05,-1,1e12")
    assert code == 1
    rows = {row["job"]: row for row in summary_rows(sweep_dir)}
    assert rows["0"]["status"] == "completed"
    assert rows["1"]["status"] == "failed"
    assert "optimizer.lr" in rows["1"]["error"]
    assert rows["2"]["status"] == "failed"
    assert "diverged" in rows["2"]["error"]
    rerun = (sweep_dir / "rerun_failed.sh").read_text()
    assert "optimizer=sgd optimizer.lr=-1\n" in rerun
    assert "optimizer=sgd optimizer.lr=1000000000000.0\n" in rerun
    assert "optimizer.lr=0.05" not in rerun.split("\n", 2)[2]
    out = capsys.readouterr().out
    assert "job 1 failed" in out and "2 of 3 jobs did not complete" in out


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    code, sweep_dir = sweep(tmp_path, "sweep.fail_fast=true", "optimizer.lr=-1,0.01")
    assert code == 1
    assert (sweep_dir / "0" / "summary.json").is_file()
    assert not (sweep_dir / "1").exists()


def test_resume_runs_only_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    grid = ("dataset=wine", "optimizer.lr=0.01,0.001,-1")
    with pytest.raises(SystemExit):
        cli.main(["-m", *FAST, *grid])
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    # Job 1 was "killed" after its first epoch: a checkpoint, no summary.
    (sweep_dir / "1" / "summary.json").unlink()
    finished = (sweep_dir / "0" / "summary.json").stat().st_mtime_ns
    capsys.readouterr()

    with pytest.raises(SystemExit):  # job 2 (lr=-1) fails again
        cli.main(["-m", *FAST, *grid, "sweep.resume=true"])
    out = capsys.readouterr().out
    assert f"resuming the sweep in {sweep_dir}" in out.replace("\n", "")
    assert "job 0 already completed" in out
    assert (sweep_dir / "0" / "summary.json").stat().st_mtime_ns == finished
    assert "resumed from" in (sweep_dir / "1" / "nnrun.log").read_text()
    assert json.loads((sweep_dir / "1" / "summary.json").read_text())["status"] == "completed"
    assert len(list((tmp_path / "outputs" / "multirun").glob("*/*"))) == 1


def test_runs_started_together_never_share_a_folder(tmp_path):
    folders = {unique_dir(str(tmp_path / "11-00-00_iris_mlp")) for _ in range(3)}
    assert len(folders) == 3


def test_two_runs_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        cli.main(["trainer.epochs=1", "trainer.progress=false"])
    runs = list((tmp_path / "outputs").glob("*/*_iris_tabular*"))
    assert len(runs) == 2
    assert all((run / "summary.json").is_file() for run in runs)


def test_seeds_are_grouped_with_mean_and_std(tmp_path, capsys):
    code, sweep_dir = sweep(tmp_path, "optimizer.lr=0.01,0.001", "seed=0,1")
    assert code == 0
    with open(sweep_dir / "sweep_groups.csv", newline="") as handle:
        groups = list(csv.DictReader(handle))
    assert sorted(group["setting"] for group in groups) == ["optimizer.lr=0.001",
                                                           "optimizer.lr=0.01"]
    assert all(group["runs"] == "2" for group in groups)
    assert "mean ± std" in capsys.readouterr().out


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_launchers_run_jobs_in_other_processes(tmp_path, launcher):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher" if launcher == "joblib"
                        else "hydra_plugins.hydra_submitit_launcher")
    settings = (["hydra.launcher.n_jobs=2"] if launcher == "joblib"
                else ["hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"])
    code, sweep_dir = sweep(tmp_path, f"hydra/launcher={launcher}", *settings,
                            "optimizer.lr=0.01,0.001")
    assert code == 0
    rows = summary_rows(sweep_dir)
    assert [row["status"] for row in rows] == ["completed", "completed"]
    # Jobs side by side split the cores: joblib's two jobs take half each; submitit starts
    # both at once and each gets the cpus_per_task=1 it was given, not every core.
    share = max(1, cores() // 2) if launcher == "joblib" else 1
    for job in ("0", "1"):
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        assert summary["device_name"].endswith(f", {share} threads"), summary["device_name"]


@pytest.mark.parametrize("launcher, cores_, expected", [
    ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 8, 1),
    ({"_target_": JOBLIB, "n_jobs": 2}, 8, 2),
    ({"_target_": JOBLIB, "n_jobs": -1}, 8, 8),
    ({"_target_": JOBLIB, "n_jobs": -2}, 8, 7),
    ({"_target_": JOBLIB, "n_jobs": -20}, 8, 1),
    ({"_target_": SUBMITIT_LOCAL, "cpus_per_task": 2}, 8, 4),
    ({"_target_": SUBMITIT_LOCAL, "cpus_per_task": None}, 8, 8),
])
def test_jobs_side_by_side_follow_each_launchers_settings(launcher, cores_, expected):
    assert jobs_side_by_side(launcher, cores_) == expected


def test_threads_per_job_are_cores_over_jobs_and_never_zero(monkeypatch):
    from nnrecipes.run import devices

    before = torch.get_num_threads()
    monkeypatch.setattr(devices, "cores", lambda: 16)
    monkeypatch.setattr(devices, "_default_threads", devices._default_threads)  # put back after
    try:
        assert [devices.share_cores(jobs) for jobs in (1, 2, 3, 16, 40)] == [16, 8, 5, 1, 1]
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


TINY_SPACE = """
defaults:
  - schema/search@_here_
  - _self_
trials: 8
startup_trials: 2
warmup_epochs: 0
space:
  optimizer.lr: {low: 1.0e-6, high: 1.0e-2, log: true}
  model.hidden_sizes: {choices: [[16], [32, 32]]}
"""


def test_search_prunes_stores_the_study_and_writes_a_best_config_that_reproduces(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine" / "search").mkdir(parents=True)
    (tmp_path / "mine" / "search" / "tiny.yaml").write_text(TINY_SPACE)
    search_dir = tmp_path / "search"
    cli.main(["--config-dir", str(tmp_path / "mine"), "mode=search", "search=tiny",
              "dataset=breast_cancer", "trainer.epochs=4", "trainer.monitor=loss",
              "trainer.progress=false", f"hydra.run.dir={search_dir}"])
    rows = summary_rows(search_dir)
    assert len(rows) == 8
    assert "pruned" in {row["status"] for row in rows}
    pruned = next(row["job"] for row in rows if row["status"] == "pruned")
    # said as it happens, on the console (the search's log)
    assert f"trial {int(pruned.split('_')[1])} (" in (search_dir / "nnrun.log").read_text()
    assert "below the median of the trials before it at that epoch" in \
        (search_dir / "nnrun.log").read_text()
    assert (search_dir / "study.db").is_file()
    best_yaml = yaml.safe_load((search_dir / "experiment" / "best.yaml").read_text())
    assert {"override /dataset": "breast_cancer"} in best_yaml["defaults"]

    best = rows[0]
    cli.main(["--config-dir", str(search_dir), "+experiment=best", "trainer.progress=false",
              f"hydra.run.dir={tmp_path / 'again'}"])
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["best_val"] == pytest.approx(float(best["val"]))
    assert again["test"]["accuracy"] == pytest.approx(float(best["test"]))

    cli.main([f"resume={search_dir}", "search.trials=10", "trainer.progress=false"])
    assert len(summary_rows(search_dir)) == 10


def test_overrides_in_brackets_are_shown_as_typed_not_as_markup(tmp_path, capsys):
    code, _ = sweep(tmp_path, "dataset=iris", "trainer.epochs=1", "optimizer.lr=0.1,0.01",
                    "logger=[none]")
    assert code == 0
    out = capsys.readouterr().out
    assert "all jobs:" in out and "logger=[none]" in out.split("all jobs:")[1].splitlines()[0]


def test_ranking_a_sweep_does_not_import_scikit_learn():
    # A parallel sweep's parent only ranks its jobs; importing scikit-learn there costs ~2 s.
    code = "import sys, nnrecipes.records.sweep; print('sklearn' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_jobs_of_a_sequential_sweep_load_their_data_once(tmp_path, monkeypatch):
    """Jobs that differ in other keys (and seeds, which only split) load the data set once per
    process; a job that changes what is loaded loads it again."""
    import nnrecipes.data as data

    calls = []

    class Counting:  # the declaration, its loader counted
        def __init__(self, declared):
            self.declared = declared

        def __getattr__(self, name):
            return getattr(self.declared, name)

        def build(self, cfg):
            calls.append(cfg.name)
            return self.declared.build(cfg)

    def counting(group, name):
        return Counting(data_component(group, name))

    data_component = data.component
    monkeypatch.setattr(data, "component", counting)
    monkeypatch.setattr(data, "_last_loaded", {})
    cli.main(["-m", "dataset=wine", "trainer.epochs=1", "trainer.progress=false",
              "trainer.baseline=off", "optimizer.lr=0.1,0.01", "seed=0,1",
              f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert calls == ["wine"]
    rows = list(csv.DictReader((tmp_path / "sweep" / "sweep_summary.csv").open()))
    assert len(rows) == 4 and {row["status"] for row in rows} == {"completed"}
    cli.main(["-m", "dataset=wine", "trainer.epochs=1", "trainer.progress=false",
              "trainer.baseline=off", f"dataset.data_dir={tmp_path},{tmp_path / 'sweep'}",
              f"hydra.sweep.dir={tmp_path / 'other'}"])
    assert calls == ["wine", "wine", "wine"]  # a key the loader may read: loaded again


def test_each_job_of_a_sequential_sweep_is_composed_once(tmp_path, monkeypatch):
    """Hydra's check of the sweep composes every job; the launcher runs those configs instead
    of composing each again. A job that cannot be composed still stops the sweep at once."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    composed = []
    compose = ConfigLoaderImpl.load_sweep_config

    def counting(self, master_config, sweep_overrides):
        composed.append(tuple(sweep_overrides))
        return compose(self, master_config, sweep_overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counting)
    code, sweep_dir = sweep(tmp_path, "dataset=wine", "trainer.baseline=off",
                            "optimizer.lr=0.1,0.01", "seed=0,1")
    assert code == 0
    assert len(composed) == 4 and len(set(composed)) == 4
    for job in range(4):
        config = yaml.safe_load((sweep_dir / str(job) / ".hydra" / "config.yaml").read_text())
        overrides = dict(o.split("=") for o in composed[job])
        assert (config["optimizer"]["lr"], config["seed"]) == \
            (float(overrides["optimizer.lr"]), int(overrides["seed"]))
    code, sweep_dir = sweep(tmp_path, "dataset=wine,nosuch", name="bad")
    assert code == 2 and not (sweep_dir / "0").exists()
