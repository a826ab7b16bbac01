"""Misuse of the newer surfaces, tried as a new user would: what must not change silently, resumes
that train longer, folders left by runs that never trained, reports and searches that must say
the right thing, and the docs' own examples. (Bad inputs with one-line errors are in
bad_inputs.py, asserted by test_faults.py.)"""

from __future__ import annotations

import csv
import logging
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs import error_lines
from conftest import RunResult, run_cli

import nnrecipes.run.train as train_module
from nnrecipes.components import loggers
from nnrecipes.core.registry import options
from nnrecipes.report import main as report_main

QUICK = ("trainer.progress=false", "trainer.plots=false", "trainer.baseline=off")
ROOT = Path(__file__).resolve().parents[1]


def _lrs(run_dir: Path):
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [float(row["lr"]) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("scheduler", options("scheduler"))
def test_a_resume_that_trains_longer_follows_a_run_of_the_new_length(scheduler, tmp_path):
    """No epoch at learning rate 0: epochs 3-4 of a 2-epoch run resumed with trainer.epochs=4
    take the learning rates of a run started with 4 epochs (README, Resume and evaluate)."""
    settings = (f"scheduler={scheduler}", "dataset=wine", *QUICK)
    assert run_cli(*settings, "trainer.epochs=2", f"hydra.run.dir={tmp_path / 'short'}") == 0
    assert run_cli(f"resume={tmp_path / 'short'}", "trainer.epochs=4",
                   "trainer.progress=false") == 0
    assert run_cli(*settings, "trainer.epochs=4", f"hydra.run.dir={tmp_path / 'long'}") == 0
    resumed, fresh = _lrs(tmp_path / "short"), _lrs(tmp_path / "long")
    assert len(resumed) == 4 and min(resumed) > 0
    assert resumed[2:] == pytest.approx(fresh[2:], rel=1e-9)
    summary = RunResult(tmp_path / "short").summary
    assert summary["status"] == "completed" and summary["epochs_run"] == 4


def _gaps_table(path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.uniform(20, 200, 60), "price": rng.uniform(0, 1, 60)})
    frame.loc[:3, "size"] = np.nan
    frame.to_csv(path, index=False)
    return path


def test_a_run_refused_before_training_leaves_no_folder_for_the_corrected_command(tmp_path,
                                                                                  capsys):
    table, run_dir = _gaps_table(tmp_path / "gaps.csv"), tmp_path / "run"
    command = ("dataset=csv", f"dataset.path={table}", "dataset.target=price", *QUICK,
               "trainer.epochs=1", f"hydra.run.dir={run_dir}")
    assert run_cli(*command, "dataset.impute=error") == 2
    said = capsys.readouterr()
    assert "has missing values" in said.out + said.err
    assert not run_dir.exists()  # the error line said all; no folder of a run that never ran
    assert run_cli(*command, "dataset.impute=median") == 0
    assert RunResult(run_dir).summary["status"] == "completed"
    assert run_cli(*command, "dataset.impute=median") == 2  # a run that trained is kept
    assert "already holds a run" in capsys.readouterr().err


def test_predict_into_an_output_file_leaves_no_run_folder(tmp_path, monkeypatch):
    run_dir = tmp_path / "trained"
    assert run_cli(*QUICK, "trainer.epochs=1", f"hydra.run.dir={run_dir}") == 0
    rows = pd.DataFrame(np.random.default_rng(0).uniform(1, 7, (5, 4)),
                        columns=["sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                                 "petal width (cm)"])
    rows.to_csv(tmp_path / "flowers.csv", index=False)
    scratch_before = set(Path(tempfile.gettempdir()).glob("nnrun-predict-*"))
    monkeypatch.chdir(tmp_path)
    assert run_cli("mode=predict", f"checkpoint={run_dir}", "input=flowers.csv",
                   "output=predicted.csv") == 0
    assert len(pd.read_csv(tmp_path / "predicted.csv")) == 5
    assert not (tmp_path / "outputs").exists()
    assert set(Path(tempfile.gettempdir()).glob("nnrun-predict-*")) == scratch_before


def test_eval_of_a_resume_target_writes_a_new_folder(tmp_path, monkeypatch):
    run_dir = tmp_path / "trained"
    assert run_cli(*QUICK, "trainer.epochs=1", f"hydra.run.dir={run_dir}") == 0
    monkeypatch.chdir(tmp_path)
    assert run_cli("mode=eval", f"resume={run_dir}") == 0
    assert not (run_dir / "eval.json").exists()
    assert len(list((tmp_path / "outputs").glob("*/*_eval/eval.json"))) == 1


def test_cfg_hydra_resolve_names_the_run_folder_without_making_it(tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli("--cfg", "hydra", "--resolve", "dataset=wine") == 0
    printed = capsys.readouterr().out
    assert re.search(r"dir: outputs/[\d-]+/[\d-]+_wine_tabular\n", printed), printed
    assert run_cli("--cfg", "all", "--resolve") == 0
    capsys.readouterr()
    assert run_cli("--cfg", "job", "--package", "optimizer") == 0
    # a table's default model brings its optimizer (configs/model/tabular.yaml)
    assert capsys.readouterr().out.startswith("# @package optimizer\nname: adamw\n")
    assert not (tmp_path / "outputs").exists()


def test_a_path_that_reads_as_a_number_is_the_path_as_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _gaps_table(tmp_path / "2024.10").write_text(
        pd.read_csv(tmp_path / "2024.10").dropna().to_csv(index=False))
    assert run_cli("dataset=csv", "dataset.path=2024.10", "dataset.target=price", *QUICK,
                   "trainer.epochs=1", f"hydra.run.dir={tmp_path / 'run'}") == 0


def test_a_report_over_runs_of_different_tasks_names_each_metric(tmp_path, capsys):
    for dataset, epochs in (("iris", 2), ("diabetes", 3)):  # trainer.epochs: ${dataset.epochs}
        assert run_cli(f"dataset={dataset}", *QUICK, f"dataset.epochs={epochs}",
                       f"hydra.run.dir={tmp_path / dataset}") == 0
    capsys.readouterr()
    assert report_main([str(tmp_path / "iris"), str(tmp_path / "diabetes"),
                        "--out", str(tmp_path / "report"), "--markdown"]) == 0
    printed = capsys.readouterr().out
    table = (tmp_path / "report" / "report.md").read_text()
    assert "test accuracy" not in table and "| test metric | test |" in table
    assert "| accuracy |" in table and "| r2 |" in table
    assert "${" not in printed + table
    lines = [line.strip("|").split(" | ") for line in table.splitlines() if line.startswith("|")]
    rows = [dict(zip([cell.strip() for cell in lines[0]], [cell.strip() for cell in line]))
            for line in lines[2:]]
    assert [row["trainer.epochs"] for row in rows] == ["2", "3"]
    assert (tmp_path / "report" / "compare_curves.png").is_file()


def test_an_interrupted_sweep_counts_the_jobs_it_never_started(tmp_path, monkeypatch, capsys):
    import contextlib
    import signal

    @contextlib.contextmanager
    def stop_at_once():
        yield lambda: signal.SIGTERM

    monkeypatch.setattr(train_module, "stop_requests", stop_at_once)
    code = run_cli("-m", "dataset=wine", *QUICK, "trainer.epochs=1",
                   "optimizer.lr=0.1,0.01,0.001", "dataset.batch_size=16,32",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert code == 128 + signal.SIGTERM
    printed = " ".join(capsys.readouterr().out.split())
    assert "5 of the 6 jobs asked for did not start" in printed
    assert "1 of 1 jobs did not complete" in printed


def test_a_narrow_terminal_wraps_the_run_directory_rather_than_cutting_it(monkeypatch, capsys):
    from nnrecipes.core.console import results_table

    monkeypatch.setenv("COLUMNS", "40")
    folder = "/a/very/long/path/to/outputs/2026-12-02/10-55-59_fashion_mnist_cnn"
    results_table("run", {"accuracy": 0.91}, {"run directory": folder})
    printed = re.sub(r"[\s│┃]", "", capsys.readouterr().out)
    assert folder in printed and "…" not in printed


def test_every_missing_extra_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    real = loggers.importlib.util.find_spec
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name, *rest: None
                        if name in ("mlflow", "tensorboard") else real(name, *rest))
    assert run_cli("logger=[tensorboard,mlflow]", f"hydra.run.dir={tmp_path / 'run'}") == 2
    said = error_lines(capsys.readouterr().out)
    assert said == ["error: logger=tensorboard,mlflow need the mlflow, tensorboard extras: "
                    "pip install 'nnrecipes[mlflow,tensorboard]'"]


def test_a_locked_study_database_is_said_to_be_locked(tmp_path, capsys):
    folder = tmp_path / "search"
    folder.mkdir()
    holder = sqlite3.connect(folder / "study.db")
    holder.execute("CREATE TABLE held (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code = run_cli("mode=search", "search.trials=1", *QUICK, f"hydra.run.dir={folder}")
    finally:
        holder.close()
    said = error_lines(capsys.readouterr().out)
    assert code == 2 and len(said) == 1 and "is locked by another process" in said[0], said
    assert "move it away" not in said[0]


def test_a_search_whose_trials_fail_says_so_once_each_and_exits_1(tmp_path, capsys):
    space = tmp_path / "mine" / "search"
    space.mkdir(parents=True)
    (space / "huge.yaml").write_text("defaults:\n  - schema/search@_here_\n  - _self_\n"
                                     "space:\n  optimizer.lr: {low: 1.0e11, high: 1.0e12}\n")
    code = run_cli("--config-dir", str(tmp_path / "mine"), "mode=search", "search=huge",
                   "model=mlp",
                   "search.trials=2", *QUICK, "trainer.epochs=1",
                   f"hydra.run.dir={tmp_path / 'search'}")
    printed = capsys.readouterr().out
    assert code == 1
    assert len(re.findall(r"trial \d failed \(optimizer\.lr=[\d.e+]+\): training diverged",
                          printed)) == 2, printed
    assert "Traceback" not in printed and "no trial completed" in printed


def test_the_onnx_extra_brings_the_runtime_the_readme_checks_with():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(name.startswith("onnxruntime") for name in extras["onnx"])


def test_what_the_docs_examples_write_is_ignored_by_git():
    """A user who follows README.md and docs/ in the repository leaves nothing git would add."""
    docs = "\n".join(page.read_text().split("\n## History\n")[0]  # not the dated diary
                     for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    written = set(re.findall(r"to_csv\('([^']+)'", docs)) | \
        set(re.findall(r"Path\('([^']+)'", docs)) | \
        set(re.findall(r"\boutput=([a-z_]+\.\w+)", docs)) | \
        set(re.findall(r"--out ([\w./-]+)", docs)) | \
        set(re.findall(r"cat > (\S+) <<", docs))
    written = {name for name in written if re.fullmatch(r"[a-z_][\w./-]*", name)}
    assert {"diabetes.csv", "digits_png", "predicted.csv", "my_nets.py"} <= written
    git = ["git", "-C", str(ROOT)]
    tracked = subprocess.run([*git, "ls-files", *sorted(written)], capture_output=True,
                             text=True).stdout.split()  # docs/benchmarks.md is written on purpose
    ignored = subprocess.run([*git, "check-ignore", *sorted(written)], capture_output=True,
                             text=True).stdout.split()
    assert sorted([*tracked, *ignored]) == sorted(written)


@pytest.mark.parametrize("said, meant", [("false", "off"), ("true", "on"), ("no", "off"),
                                          ("on", "on"), ("auto", "auto")])
def test_the_baseline_takes_booleans_as_yaml_writes_them(said, meant, composed):
    from nnrecipes.core.validation import validate

    cfg = composed(f"trainer.baseline={said}")
    validate(cfg)
    assert cfg.trainer.baseline == meant


def test_a_run_says_how_images_were_changed_and_scales_16_bit_ones(tmp_path, composed, caplog):
    import torch
    from PIL import Image

    from nnrecipes.data import build_data

    rng = np.random.default_rng(0)
    for name, top in (("dark", 20000), ("bright", 65535)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(6):
            pixels = rng.integers(0, top, (10, 10)).astype(np.uint16)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{index}.png")
        Image.new("RGBA", (10, 10), (200, 10, 10, 0)).save(tmp_path / "photos" / name / "c.png")
    cfg = composed("dataset=image_folder", f"dataset.path={tmp_path / 'photos'}")
    with caplog.at_level(logging.INFO, logger="nnrecipes"):
        data = build_data(cfg.dataset, cfg.seed, torch.device("cpu"))
    said = caplog.text
    assert "12 images held 16-bit pixels, scaled to 8 bits (value / 257)" in said
    assert "2 images in colour were converted to grey" in said
    assert "2 images had transparency, dropped" in said
    pixels = torch.cat([data.train.x, data.val.x, data.test.x]).float()
    assert (pixels == 255).float().mean() < 0.02 and pixels.mean() > 10  # scaled, not clipped


def test_a_table_separated_by_tabs_trains_and_predicts_from_a_comma_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.uniform(20, 200, 80), "city": rng.choice(["n", "s"], 80),
                          "garden": rng.choice([True, False], 80)})
    frame["price"] = frame["size"] * 2 + frame["garden"] * 50
    frame.to_csv(tmp_path / "homes.txt", sep="\t", index=False)
    run_dir = tmp_path / "run"
    assert run_cli("dataset=csv", f"dataset.path={tmp_path / 'homes.txt'}",
                   "dataset.target=price", "dataset.delimiter=tab", *QUICK, "trainer.epochs=2",
                   f"hydra.run.dir={run_dir}") == 0
    new = frame.drop(columns="price").head(4).assign(city=["n", "s", "w", "n"])
    new.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert run_cli("mode=predict", f"checkpoint={run_dir}", f"input={tmp_path / 'new.csv'}",
                   f"output={tmp_path / 'out.csv'}") == 0
    printed = capsys.readouterr().out
    assert "is separated by ',', not tab; read it so" in printed
    assert "column city holds 1 value not seen in training ('w')" in printed
    assert len(pd.read_csv(tmp_path / "out.csv")) == 4
    new.assign(garden=[1, 0, 2, 1]).to_csv(tmp_path / "two.csv", index=False)
    assert run_cli("mode=predict", f"checkpoint={run_dir}", f"input={tmp_path / 'two.csv'}",
                   f"output={tmp_path / 'out2.csv'}") == 2
    assert "column garden holds numbers other than 0 and 1" in capsys.readouterr().out


def test_filling_missing_values_is_said_per_column(tmp_path, capsys):
    table = _gaps_table(tmp_path / "gaps.csv")
    assert run_cli("dataset=csv", f"dataset.path={table}", "dataset.target=price",
                   "dataset.impute=median", *QUICK, "trainer.epochs=1",
                   f"hydra.run.dir={tmp_path / 'run'}") == 0
    assert re.search(r"missing values filled from the training split: size \d with [\d.]+",
                     capsys.readouterr().out)


def test_a_users_model_that_raises_in_a_sweep_is_named_in_its_row(tmp_path, monkeypatch,
                                                                   capsys):
    (tmp_path / "nets.py").write_text(
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, shape, outputs):\n"
        "        super().__init__(); self.layer = nn.Linear(4, outputs)\n"
        "    def forward(self, x):\n"
        "        return self.layer(x[:, :3])\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    code = run_cli("-m", "model=custom", "model.target=nets:Net", *QUICK, "trainer.epochs=1",
                   "optimizer.lr=0.1,0.01", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    printed = capsys.readouterr().out
    assert code == 1
    assert printed.count("model.target=nets:Net raised RuntimeError") >= 2
    assert "(nets.py, line 6, in forward)" in printed and "Traceback" not in printed


def test_torchrun_reports_the_one_line_error_as_the_root_cause(tmp_path):
    from test_distributed import torchrun

    scratch_before = set(Path(tempfile.gettempdir()).glob("nnrun-rank*"))
    table = tmp_path / "inf.csv"
    pd.DataFrame({"x": [1.0, np.inf] * 20, "y": [0, 1] * 20}).to_csv(table, index=False)
    done = torchrun(tmp_path / "run", "dataset=csv", f"dataset.path={table}", "dataset.target=y")
    assert done.returncode != 0
    root_cause = done.stderr.split("Root Cause", 1)[-1]
    assert "traceback : error: dataset.path=" in root_cause and "infinite value" in root_cause
    assert set(Path(tempfile.gettempdir()).glob("nnrun-rank*")) == scratch_before


def test_pillows_warnings_name_the_image_they_are_about(tmp_path, monkeypatch, capsys):
    import warnings

    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(4):
            Image.new("L", (8, 8), 40 * index).save(tmp_path / "photos" / name / f"{index}.png")
    # Pillow warns of a decompression bomb above MAX_IMAGE_PIXELS (89 million by default).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        assert run_cli("dataset=image_folder", f"dataset.path={tmp_path / 'photos'}",
                       "model=mlp", *QUICK, "trainer.epochs=1",
                       f"hydra.run.dir={tmp_path / 'run'}") == 0
    output = capsys.readouterr()
    assert re.search(r"photos/cat/0\.png: Image size \(64 pixels\) exceeds limit of 50 pixels",
                     output.out), output.out
    assert not [w for w in raw if "decompression" in str(w.message).lower()]
    assert "DecompressionBombWarning" not in output.out + output.err
