"""A user's own data in (dataset=csv, dataset=image_folder), predictions and exports out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nnrecipes.components.datasets.csv_table import decide_task
from nnrecipes.components.models import model_from_checkpoint
from nnrecipes.data.encoding import fit_encoding
from nnrecipes.data.stand_ins import write_california_cache, write_image_folder, write_table
from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "trainer.baseline=off")


def _breast_cancer_csv(path: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["diagnosis"] = [bunch.target_names[label] for label in bunch.target]
    frame.to_csv(path, index=False)
    return path


def test_breast_cancer_with_string_labels_trains_as_binary(nnrun, tmp_path):
    path = _breast_cancer_csv(tmp_path / "cancer.csv")
    run = nnrun("dataset=csv", f"dataset.path={path}", "dataset.target=diagnosis",
                "model=mlp", "trainer.epochs=10", *QUICK)
    assert run.summary["task"] == "binary"
    assert run.summary["samples"] == {"train": 409, "val": 46, "test": 114}
    assert run.summary["test"]["accuracy"] > 0.93
    assert load_checkpoint(run.dir, "best.pt")["class_names"] == ["benign", "malignant"]


def test_a_table_written_as_csv_trains_as_the_built_in_data_set(nnrun, tmp_path):
    """Same rows, same seed: the same split, and the same score."""
    from sklearn.datasets import fetch_california_housing

    write_california_cache(tmp_path / "data" / "sklearn")
    bunch = fetch_california_housing(data_home=str(tmp_path / "data" / "sklearn"), as_frame=True,
                                     download_if_missing=False)
    bunch.frame.to_csv(tmp_path / "cal.csv", index=False)
    settings = ("model=mlp", "trainer.epochs=5", *QUICK)
    built_in = nnrun("dataset=california", f"dataset.data_dir={tmp_path / 'data'}", *settings)
    table = nnrun("dataset=csv", f"dataset.path={tmp_path / 'cal.csv'}",
                  "dataset.target=MedHouseVal", *settings)
    assert table.summary["task"] == "regression"
    assert table.summary["samples"] == built_in.summary["samples"]
    assert table.summary["test"]["r2"] == pytest.approx(built_in.summary["test"]["r2"], abs=0.005)


def test_string_features_and_missing_values_train_with_impute_median(nnrun, tmp_path):
    write_table(tmp_path)
    frame = pd.read_csv(tmp_path / "table" / "homes.csv")
    frame.loc[::10, "size"] = np.nan
    frame.loc[5::10, "city"] = np.nan
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'gaps.csv'}", "dataset.target=expensive",
                "dataset.impute=median", "trainer.epochs=20", *QUICK)
    encoding = load_checkpoint(run.dir, "best.pt")["encoding"]
    assert encoding["categories"] == {"city": ["east", "north", "south"]}
    assert set(encoding["fills"]) == {"size", "city", "rooms"}
    assert run.summary["test"]["accuracy"] > 0.8


def test_the_encoding_is_learnt_on_the_training_split_only(nnrun, tmp_path):
    write_table(tmp_path)
    train = pd.read_csv(tmp_path / "table" / "homes.csv")
    test = train.head(40).assign(city="west", size=1e6)  # values only the test file holds
    test.to_csv(tmp_path / "test.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'table' / 'homes.csv'}",
                f"dataset.test_path={tmp_path / 'test.csv'}", "dataset.target=expensive",
                "dataset.impute=median", "trainer.epochs=2", *QUICK)
    saved = load_checkpoint(run.dir, "best.pt")
    assert saved["encoding"]["categories"]["city"] == ["east", "north", "south"]
    assert saved["encoding"]["fills"]["size"] <= train["size"].max()
    assert float(saved["stats"]["input_mean"][0]) <= train["size"].max()
    assert run.summary["samples"]["test"] == 40


def test_an_unseen_category_is_all_zeros():
    frame = pd.DataFrame({"city": ["a", "b", "a"], "size": [1.0, 2.0, 3.0]})
    encoding = fit_encoding(frame, impute="error", max_categories=10, where="t")
    assert encoding.names() == ["city=a", "city=b", "size"]
    encoded = encoding.transform(pd.DataFrame({"size": [5.0], "city": ["z"], "x": [0]}), "t")
    assert encoded.tolist() == [[0.0, 0.0, 5.0]]


@pytest.mark.parametrize("values,task", [
    ([0.5, 1.25, 3.0, 2.0], "regression"), ([0, 1, 2, 3, 1], "multiclass"),
    (["yes", "no", "no"], "binary"), (list(range(50)), "regression"), ([True, False], "binary"),
])
def test_the_target_column_decides_the_task(values, task):
    assert decide_task(pd.Series(values, name="y"), "auto", "y") == task


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    """An image-folder run with a separate test folder, and that folder."""
    from nnrecipes import cli

    root = tmp_path_factory.mktemp("images")
    write_image_folder(root / "train")
    write_image_folder(root / "test", per_class=5)
    cli.main(["dataset=image_folder", f"dataset.path={root / 'train' / 'image_folder'}",
              f"dataset.test_path={root / 'test' / 'image_folder'}", "model=cnn",
              "trainer.epochs=3", "trainer.progress=false", *QUICK, f"hydra.run.dir={root / 'run'}"])
    return root


def test_an_image_folder_trains_like_an_image_data_set(image_runs):
    summary = json.loads((image_runs / "run" / "summary.json").read_text())
    assert summary["samples"] == {"train": 270, "val": 30, "test": 50}
    assert summary["test"]["accuracy"] > 0.5
    saved = load_checkpoint(image_runs / "run", "best.pt")
    assert saved["model_spec"]["input_shape"] == [1, 28, 28]
    assert saved["class_names"] == [f"class_{digit}" for digit in range(10)]


def test_images_are_converted_resized_and_bad_files_skipped_when_asked(nnrun, tmp_path, caplog):
    write_image_folder(tmp_path, per_class=4)
    (tmp_path / "image_folder" / "class_0" / "broken.png").write_bytes(b"not an image")
    run = nnrun("dataset=image_folder", f"dataset.path={tmp_path / 'image_folder'}",
                "dataset.image_size=16", "dataset.channels=3", "dataset.skip_bad=true",
                "trainer.epochs=1", *QUICK)
    assert load_checkpoint(run.dir, "best.pt")["model_spec"]["input_shape"] == [3, 16, 16]
    assert sum(run.summary["samples"].values()) == 40
    assert "left out 1 file that is not a usable image" in (run.dir / "nnrun.log").read_text()


def _csv_run(nnrun, tmp_path):
    write_table(tmp_path, rows=400)
    table = pd.read_csv(tmp_path / "table" / "homes.csv")
    table.iloc[:300].to_csv(tmp_path / "train.csv", index=False)
    held_out = table.iloc[300:]
    held_out.to_csv(tmp_path / "held_out.csv", index=False)
    # model=mlp: the plain loader of the exports' test rebuilds an MLP without nnrecipes
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'train.csv'}",
                f"dataset.test_path={tmp_path / 'held_out.csv'}", "dataset.target=expensive",
                "model=mlp", "trainer.epochs=10", *QUICK)
    return run, held_out


def test_predictions_on_held_out_rows_agree_with_eval(nnrun, tmp_path):
    run, held_out = _csv_run(nnrun, tmp_path)
    evaluated = nnrun("mode=eval", f"checkpoint={run.dir}")
    shuffled = held_out[["rooms", "expensive", "city", "size"]].assign(id=range(100))
    shuffled.to_csv(tmp_path / "input.csv", index=False)
    predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'input.csv'}")
    table = pd.read_csv(predicted.dir / "predictions.csv")
    assert len(table) == 100 and table["id"].tolist() == list(range(100))  # copied through
    probabilities = table[["probability_no", "probability_yes"]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    accuracy = float((table["predicted"] == table["expensive"]).mean())
    eval_json = json.loads((evaluated.dir / "eval.json").read_text())
    assert accuracy == pytest.approx(eval_json["test"]["accuracy"])
    # the checkpoint's own outputs on the same rows
    saved = load_checkpoint(run.dir, "best.pt")
    with torch.no_grad():
        x = torch.tensor(held_out[["size", "city", "rooms"]].assign(
            e=(held_out.city == "east") * 1.0, n=(held_out.city == "north") * 1.0,
            s=(held_out.city == "south") * 1.0)[["size", "e", "n", "s", "rooms"]].to_numpy(),
            dtype=torch.float32)
        logits = model_from_checkpoint(saved).eval()(x).squeeze(-1)
    assert np.allclose(table["probability_yes"], torch.sigmoid(logits).numpy(), atol=1e-6)


def test_predictions_for_a_folder_and_a_single_image(nnrun, image_runs, tmp_path):
    evaluated = nnrun("mode=eval", f"checkpoint={image_runs / 'run'}")
    folder = image_runs / "test" / "image_folder"
    predicted = nnrun("mode=predict", f"checkpoint={image_runs / 'run'}", f"input={folder}")
    table = pd.read_csv(predicted.dir / "predictions.csv")
    assert len(table) == 50
    truth = [Path(path).parent.name for path in table["path"]]
    accuracy = float(np.mean(table["predicted"] == truth))
    eval_json = json.loads((evaluated.dir / "eval.json").read_text())
    assert accuracy == pytest.approx(eval_json["test"]["accuracy"])
    columns = [f"probability_class_{digit}" for digit in range(10)]
    assert np.allclose(table[columns].sum(axis=1), 1.0, atol=1e-5)
    one = nnrun("mode=predict", f"checkpoint={image_runs / 'run'}",
                f"input={table['path'][7]}", f"output={tmp_path / 'one.csv'}")
    single = pd.read_csv(tmp_path / "one.csv")
    assert not (one.dir / "predictions.csv").exists()
    assert single["predicted"][0] == table["predicted"][7]


# What a user's own program does with an export; it blocks importing nnrecipes.
PLAIN_LOADER = Path(__file__).parents[1] / "scripts" / "plain_loader.py"


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "safetensors"])
def test_an_export_loads_without_nnrecipes_and_matches_the_checkpoint(fmt, nnrun, tmp_path):
    from nnrecipes.export import FORMATS
    from nnrecipes.export import main as export

    run, held_out = _csv_run(nnrun, tmp_path)
    assert export([str(run.dir), "--format", fmt]) == 0
    saved = load_checkpoint(run.dir, "best.pt")
    from nnrecipes.data.encoding import TableEncoding

    x = TableEncoding.from_dict(saved["encoding"]).transform(held_out, "held out")
    np.save(tmp_path / "x.npy", x)
    exported = run.dir / "export" / FORMATS[fmt]
    # one file a user can move (no external-data file beside an ONNX model), and its description
    assert sorted(p.name for p in exported.parent.iterdir()) == sorted([exported.name, "model.json"])
    subprocess.run([sys.executable, str(PLAIN_LOADER), fmt, str(exported),
                    str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], check=True, cwd=tmp_path)
    with torch.no_grad():
        expected = model_from_checkpoint(saved).eval()(torch.from_numpy(x)).numpy()
    assert np.abs(np.load(tmp_path / "y.npy") - expected).max() <= 1e-5
    assert json.loads((run.dir / "export" / "model.json").read_text())["input_columns"] == \
        ["size", "city=east", "city=north", "city=south", "rooms"]


def test_an_export_whose_extra_is_missing_names_it(nnrun, tmp_path, monkeypatch, capsys):
    import importlib.util

    from nnrecipes.export import main as export

    run = nnrun("trainer.epochs=1", *QUICK)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real(name, *a))
    assert export([str(run.dir), "--format", "onnx"]) == 2
    said = capsys.readouterr().err.strip()
    assert said.endswith("pip install 'nnrecipes[onnx]'") and len(said.splitlines()) == 1
    assert not (run.dir / "export" / "model.onnx").exists()


def test_a_built_in_table_model_predicts_from_a_csv_by_column_name(nnrun, tmp_path):
    from sklearn.datasets import load_iris

    run = nnrun("dataset=iris", "model=mlp", "trainer.epochs=30", *QUICK)
    frame = load_iris(as_frame=True).frame
    frame[frame.columns[::-1]].to_csv(tmp_path / "iris.csv", index=False)  # columns reversed
    predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'iris.csv'}")
    table = pd.read_csv(predicted.dir / "predictions.csv")
    names = np.array(["setosa", "versicolor", "virginica"])
    assert float(np.mean(table["predicted"] == names[table["target"]])) > 0.9


def test_predict_keeps_input_columns_named_like_its_outputs_and_says_empty_rows(nnrun,
                                                                              tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"size": rng.uniform(20, 200, 80), "colour": rng.choice(["a", "b"], 80)})
    table["kind"] = np.where(table["size"] > 100, "big", "small")
    table.to_csv(tmp_path / "things.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'things.csv'}", "dataset.target=kind",
                "trainer.epochs=2", "trainer.plots=false")
    new = table.drop(columns="kind").head(5).assign(predicted="mine", probability_big=-1.0)
    new.loc[2, ["size", "colour"]] = np.nan
    new.to_csv(tmp_path / "new.csv", index=False)
    predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'new.csv'}")
    out = pd.read_csv(predicted.dir / "predictions.csv")
    assert list(out["predicted"]) == ["mine"] * 5 and list(out["probability_big"]) == [-1.0] * 5
    assert set(out["predicted_2"]) <= {"big", "small"}
    assert out["probability_big_2"].between(0, 1).all()
    log = (predicted.dir / "nnrun.log").read_text()
    assert "the input has a column predicted already: kept as it is, the prediction goes into " \
           "predicted_2" in log
    assert "1 row (data row 3) holds no value in any column the model reads" in log
