"""Figures, baselines, model summaries, nnrun-report, presets and the logic-gates lesson."""


import json

import pytest
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

from nnrecipes.core.config import config_dir
from nnrecipes.core.validation import validate
from nnrecipes.data import build_data
from nnrecipes.report import main as report_main


def assert_png(path):
    assert path.is_file(), f"{path.name} was not written"
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG" and min(image.size) > 100


def test_classification_run_draws_curves_and_confusion_matrix(nnrun):
    run = nnrun("dataset=wine", "trainer.epochs=3")
    assert_png(run.dir / "curves.png")
    assert_png(run.dir / "confusion_matrix.png")
    assert not (run.dir / "predictions.png").exists()


def test_image_run_draws_a_prediction_grid(nnrun, idx_data_dir):
    run = nnrun("dataset=fashion_mnist", "model=cnn", f"dataset.data_dir={idx_data_dir}",
                "trainer.epochs=1")
    for name in ("curves.png", "confusion_matrix.png", "predictions.png"):
        assert_png(run.dir / name)


def test_regression_run_draws_scatter_and_residuals(nnrun):
    run = nnrun("dataset=diabetes", "trainer.epochs=2")
    assert_png(run.dir / "regression.png")
    assert not (run.dir / "confusion_matrix.png").exists()


def test_plots_can_be_switched_off(nnrun):
    run = nnrun("trainer.epochs=1", "trainer.plots=false")
    assert not list(run.dir.glob("*.png"))


def test_sweep_draws_lr_lines_and_heatmap_and_leaves_the_jobs_figures_out(tmp_path):
    from test_sweep import sweep

    code, sweep_dir = sweep(tmp_path, "optimizer.lr=0.1,0.01", "dataset.batch_size=32,64")
    assert code == 0
    assert_png(sweep_dir / "sweep_lr.png")
    assert_png(sweep_dir / "sweep_heatmap.png")
    jobs = [job for job in sweep_dir.iterdir() if job.name.isdigit()]
    assert len(jobs) == 4 and not [png for job in jobs for png in job.glob("*.png")]


def test_sweep_jobs_draw_their_figures_when_asked(tmp_path):
    from test_sweep import sweep

    code, sweep_dir = sweep(tmp_path, "optimizer.lr=0.1,0.01", "trainer.plots=true")
    assert code == 0
    for job in ("0", "1"):
        assert_png(sweep_dir / job / "curves.png")


def test_baseline_is_scored_on_the_same_split(nnrun, composed):
    run = nnrun("dataset=breast_cancer", "trainer.epochs=2")
    reported = run.summary["baseline"]["logistic_regression"]["accuracy"]
    data = build_data(composed("dataset=breast_cancer").dataset, 0, torch.device("cpu"))
    scale = lambda x: ((x - data.stats["input_mean"]) / data.stats["input_std"]).numpy()
    model = LogisticRegression(max_iter=2000).fit(scale(data.train.x), data.train.y.numpy())
    assert model.score(scale(data.test.x), data.test.y.numpy()) == pytest.approx(reported)
    assert run.summary["samples"]["test"] == len(data.test)
    assert "hist_gradient_boosting" in run.summary["baseline"]


def test_baseline_is_off_by_default_for_images_and_can_be_forced(nnrun):
    assert "baseline" not in nnrun("dataset=digits", "trainer.epochs=1").summary
    forced = nnrun("dataset=digits", "trainer.epochs=1", "trainer.baseline=on").summary
    assert forced["baseline"]["logistic_regression"]["accuracy"] > 0.9


def test_model_summary_lists_layers_and_parameters(nnrun):
    run = nnrun("dataset=digits", "model=cnn", "trainer.epochs=1")
    text = (run.dir / "model.txt").read_text()
    assert "Conv2d" in text and "(32, 8, 8)" in text
    assert f"total parameters {run.summary['parameters']:,}" in text


def test_report_compares_two_runs_and_writes_both_formats(nnrun, tmp_path, capsys):
    first = nnrun("trainer.epochs=2", "optimizer.lr=0.01")
    second = nnrun("trainer.epochs=2", "optimizer.lr=0.001")
    out = tmp_path / "report"
    assert report_main([str(first.dir), str(second.dir), "--out", str(out),
                        "--markdown", "--html"]) == 0
    printed = capsys.readouterr().out
    assert "optimizer.lr" in printed and "0.001" in printed and "test accuracy" in printed
    assert_png(out / "compare_curves.png")
    assert "optimizer.lr" in (out / "report.md").read_text()
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_report_expands_a_sweep(tmp_path, capsys, monkeypatch):
    from test_sweep import sweep

    from nnrecipes.records import plots

    _, sweep_dir = sweep(tmp_path, "optimizer.lr=0.1,0.01,0.001")
    drawn = {}
    original = plots.compare_curves
    monkeypatch.setattr(plots, "compare_curves", lambda histories, metric, path: (
        drawn.update(histories), original(histories, metric, path))[1])
    assert report_main([str(sweep_dir), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "3 runs" in printed
    assert "val_accuracy" in printed  # the metric the sweep ranked the jobs by
    # curves named by what the jobs differ in, not by job number
    assert sorted(drawn) == ["lr=0.001", "lr=0.01", "lr=0.1"]


def test_report_of_a_cross_validation_draws_its_folds(nnrun, tmp_path, capsys):
    run = nnrun("dataset=wine", "trainer.folds=3", "trainer.epochs=3")
    assert_png(run.dir / "curves.png")  # every fold's validation curves
    assert report_main([str(run.dir), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "3 runs" in printed and "fold_3" in printed
    assert_png(tmp_path / "r" / "compare_curves.png")


@pytest.mark.parametrize("preset", sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml")))
def test_every_preset_composes(composed, preset):
    validate(composed(f"+experiment={preset}"))


def test_perceptron_cannot_learn_xor_but_an_mlp_can(nnrun):
    perceptron = nnrun("+experiment=logic_gates", "dataset.gate=xor")
    mlp = nnrun("+experiment=logic_gates", "dataset.gate=xor", "model=mlp")
    assert perceptron.summary["test"]["accuracy"] <= 0.75
    assert mlp.summary["test"]["accuracy"] == 1.0
    assert nnrun("+experiment=logic_gates", "dataset.gate=nand").summary["test"]["accuracy"] == 1.0


def test_a_sweep_fits_the_baselines_once_for_jobs_that_share_a_split(tmp_path, monkeypatch):
    from test_sweep import sweep

    from nnrecipes.run import baseline

    fitted = []
    real = baseline._fit_and_score
    monkeypatch.setattr(baseline, "_SCORED", {})
    monkeypatch.setattr(baseline, "_fit_and_score", lambda *args: fitted.append(1) or real(*args))
    code, sweep_dir = sweep(tmp_path, "optimizer.lr=0.1,0.01", "seed=0,1")
    assert code == 0
    assert len(fitted) == 2  # one per seed: the seed changes the split
    scores = [json.loads((sweep_dir / job / "summary.json").read_text())["baseline"]
              for job in ("0", "1", "2", "3")]
    assert len({json.dumps(score, sort_keys=True) for score in scores}) <= 2
