"""k-fold cross-validation (trainer.folds): the folds are scikit-learn's, each fold an ordinary
run, the baselines scored on the same folds, the test split scored by the folds' models
averaged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from nnrecipes.core.task import Task, compute_metrics
from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "trainer.epochs=3")


def test_breast_cancer_folds_equal_cross_val_score(nnrun):
    """Per fold, nnrun's baselines score what scikit-learn's cross_val_score scores with the
    same StratifiedKFold on the same training pool."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nnrecipes.data.splits import split_test
    from nnrecipes.run.baseline import baseline_models

    run = nnrun("dataset=breast_cancer", "trainer.folds=5", *QUICK)
    summary = run.summary
    x, y = load_breast_cancer(return_X_y=True)
    x_pool, _, y_pool, _ = split_test(x.astype(np.float32), y, 0.2, 0, True)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for name, model in baseline_models(Task.binary, 0).items():
        expected = cross_val_score(make_pipeline(StandardScaler(), model), x_pool, y_pool,
                                   cv=folds)
        assert summary["cv"][name]["accuracy"]["folds"] == pytest.approx(list(expected), abs=0)
        assert summary["cv"][name]["accuracy"]["mean"] == pytest.approx(expected.mean())
        assert summary["cv"][name]["accuracy"]["std"] == pytest.approx(expected.std())
    # Each fold validated on its own rows: together they are the pool, once each.
    saved = [load_checkpoint(run.dir / f"fold_{k}", "best.pt") for k in range(1, 6)]
    assert [s["config"]["trainer"]["fold"] for s in saved] == [1, 2, 3, 4, 5]
    validated = [json.loads((run.dir / f"fold_{k}" / "summary.json").read_text())["samples"]
                 for k in range(1, 6)]
    assert sum(samples["val"] for samples in validated) == len(y_pool) == 455
    network = summary["cv"]["network"]["accuracy"]
    assert network["mean"] == pytest.approx(np.mean(network["folds"]))
    assert summary["best_val"] == network["mean"] and summary["folds"] == 5


def test_each_fold_is_a_run_and_the_test_is_the_folds_averaged(nnrun):
    run = nnrun("dataset=wine", "trainer.folds=3", *QUICK)
    kept = [np.load(run.dir / f"fold_{k}" / "test_outputs.npz") for k in (1, 2, 3)]
    for k in (1, 2, 3):
        fold = json.loads((run.dir / f"fold_{k}" / "summary.json").read_text())
        assert fold["status"] == "completed" and fold["test"]["accuracy"] > 0
        assert fold["val"]["accuracy"] == run.summary["cv"]["network"]["accuracy"][
            "folds"][k - 1]
    probabilities = np.mean([torch.softmax(torch.from_numpy(s["outputs"]), 1).numpy()
                             for s in kept], axis=0)
    expected = compute_metrics(Task.multiclass, torch.from_numpy(np.log(probabilities)),
                               torch.from_numpy(kept[0]["targets"]))
    assert run.summary["test"] == pytest.approx(expected)


def test_a_fold_alone_resumes_as_any_run(nnrun, tmp_path):
    one = nnrun("dataset=iris", "trainer.folds=4", "trainer.fold=2", *QUICK)
    assert not (one.dir / "fold_1").exists()
    assert one.summary["samples"]["val"] == 30  # a quarter of the 120-row pool
    more = nnrun(f"resume={one.dir}", "trainer.epochs=4", run_dir=one.dir)
    assert more.summary["epochs_run"] == 4


def test_a_sweep_ranks_its_jobs_by_the_cross_validated_mean(tmp_path):
    import csv

    from nnrecipes import cli

    cli.main(["-m", "dataset=iris", "trainer.folds=3", "optimizer.lr=0.0001,0.01",
              "trainer.progress=false", *QUICK, f"hydra.sweep.dir={tmp_path / 'sweep'}"])

    summaries = [json.loads((tmp_path / "sweep" / str(job) / "summary.json").read_text())
                 for job in (0, 1)]
    assert all(summary["folds"] == 3 for summary in summaries)
    with open(tmp_path / "sweep" / "sweep_summary.csv", newline="") as handle:
        ranked = list(csv.DictReader(handle))
    best = max(summaries, key=lambda summary: summary["best_val"])
    assert float(ranked[0]["val"]) == pytest.approx(best["best_val"])
    assert best["best_val"] > min(summary["best_val"] for summary in summaries)


def test_grouped_splits_and_folds_keep_each_group_whole():
    import pandas as pd
    from sklearn.model_selection import StratifiedGroupKFold

    from nnrecipes.data.splits import split_fold, split_test

    rows = pd.DataFrame({"patient": np.repeat([f"p{i}" for i in range(40)], 4),
                         "x": np.arange(160.0)})
    y = np.repeat(np.arange(40) % 2, 4)
    pool, test, y_pool, _ = split_test(rows, y, 0.2, 0, True, group="patient")
    assert not set(pool.patient) & set(test.patient) and len(test) == 32
    expected = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=0).split(
        pool, y_pool, pool.patient.to_numpy())
    for fold, (_, val_rows) in enumerate(expected, start=1):
        train, val, _, _ = split_fold(pool, y_pool, fold, 4, 0, True, group="patient")
        assert not set(train.patient) & set(val.patient)
        assert val.index.tolist() == pool.iloc[val_rows].index.tolist()


def test_a_search_scores_each_trial_by_its_cross_validated_mean(tmp_path):
    import optuna

    from nnrecipes import cli

    search_dir = tmp_path / "search"
    cli.main(["mode=search", "dataset=iris", "search.trials=2", "search.pruner=none",
              "trainer.folds=2", "trainer.progress=false", *QUICK, f"hydra.run.dir={search_dir}"])
    study = optuna.load_study(study_name="nnrun", storage=f"sqlite:///{search_dir / 'study.db'}")
    for trial in study.trials:
        summary = json.loads((search_dir / f"trial_{trial.number:03d}" / "summary.json")
                             .read_text())
        assert summary["folds"] == 2
        assert trial.value == summary["cv"]["network"]["accuracy"]["mean"]


def test_a_class_rarer_than_the_folds_is_said_and_the_folds_still_run(nnrun, tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=104),
                          "kind": ["a"] * 50 + ["b"] * 50 + ["c"] * 4})
    frame.to_csv(tmp_path / "rare.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'rare.csv'}", "dataset.target=kind",
                "trainer.folds=5", *QUICK)
    assert run.summary["status"] == "completed" and run.summary["folds"] == 5
    said = (run.dir / "nnrun.log").read_text()
    assert "1 class of the training pool has fewer rows than the folds (the rarest 3)" in said


def test_a_failed_fold_leaves_the_cross_validation_failed(nnrun, monkeypatch, tmp_path):
    from nnrecipes.data import DataError
    from nnrecipes.run import train as train_module

    real = train_module.build_run

    def fold_2_breaks(cfg, *args, **kwargs):
        if cfg.trainer.fold == 2:
            raise DataError("fold 2 cannot be read")
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(train_module, "build_run", fold_2_breaks)
    run_dir = tmp_path / "cv"
    with pytest.raises(SystemExit):
        nnrun("dataset=iris", "trainer.folds=3", *QUICK, run_dir=run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "fold 2 cannot be read" in summary["error"]
    assert json.loads((run_dir / "fold_1" / "summary.json").read_text())["status"] == "completed"
    assert not (run_dir / "fold_3").exists()


def test_a_resumed_cross_validation_keeps_finished_folds_and_continues_the_rest(nnrun, tmp_path):
    run_dir = tmp_path / "cv"
    nnrun("dataset=iris", "trainer.folds=3", *QUICK, run_dir=run_dir)
    first = (run_dir / "fold_1" / "summary.json").read_bytes()
    # As if stopped in fold 2 after its checkpoints, before fold 3 began.
    (run_dir / "fold_2" / "summary.json").unlink()
    (run_dir / "summary.json").unlink()
    shutil.rmtree(run_dir / "fold_3")
    resumed = nnrun(f"resume={run_dir}", run_dir=run_dir)
    assert (run_dir / "fold_1" / "summary.json").read_bytes() == first  # kept, not retrained
    assert resumed.summary["status"] == "completed" and resumed.summary["folds"] == 3
    assert [len(_metrics_rows(run_dir / f"fold_{k}")) for k in (1, 2, 3)] == [3, 3, 3]
    longer = nnrun(f"resume={run_dir}", "trainer.epochs=4", run_dir=run_dir)
    assert longer.summary["epochs_run"] == 12
    assert [len(_metrics_rows(run_dir / f"fold_{k}")) for k in (1, 2, 3)] == [4, 4, 4]


def _metrics_rows(folder):
    import csv

    with open(folder / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_resumed_sweep_keeps_the_finished_folds_of_its_jobs(tmp_path):
    from nnrecipes import cli

    command = ["-m", "dataset=iris", "trainer.folds=2", "optimizer.lr=0.01",
               "trainer.progress=false", *QUICK, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    cli.main(command)
    job = tmp_path / "sweep" / "0"
    first = (job / "fold_1" / "summary.json").read_bytes()
    for stopped in (job / "summary.json", job / "fold_2" / "summary.json"):
        stopped.unlink()
    cli.main([*command, "sweep.resume=true"])
    assert (job / "fold_1" / "summary.json").read_bytes() == first
    assert json.loads((job / "summary.json").read_text())["status"] == "completed"


def test_eval_of_a_fold_scores_what_its_summary_says(nnrun, tmp_path):
    """A fold's checkpoint of a table whose rare categories are bucketed: mode=eval uses the
    fold's own splits and the encoding it saved, and matches its summary to the last digit; it
    also takes another file of the same columns by dataset.path alone."""
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = 300
    cities = rng.choice([f"c{i}" for i in range(30)], rows,
                        p=np.r_[np.full(5, 0.12), np.full(25, 0.4 / 25)])
    table = pd.DataFrame({"size": rng.uniform(20, 200, rows), "city": cities})
    table["price"] = table["size"] * 3 + table["city"].str[1:].astype(int) * 5
    table.to_csv(tmp_path / "cities.csv", index=False)
    table.to_csv(tmp_path / "same_columns.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'cities.csv'}", "dataset.target=price",
                "dataset.max_categories=5", "trainer.folds=2", *QUICK)
    fold = json.loads((run.dir / "fold_1" / "summary.json").read_text())
    assert any(column["action"] == "bucketed" for column in fold["columns"])
    evaluated = nnrun("mode=eval", f"checkpoint={run.dir / 'fold_1'}")
    assert json.loads((evaluated.dir / "eval.json").read_text())["test"] == fold["test"]
    assert f"the scores are in {evaluated.dir / 'eval.json'}" in \
        (evaluated.dir / "nnrun.log").read_text()
    elsewhere = nnrun("mode=eval", f"checkpoint={run.dir / 'fold_1'}",
                      f"dataset.path={tmp_path / 'same_columns.csv'}")
    assert json.loads((elsewhere.dir / "eval.json").read_text())["test"] == fold["test"]
