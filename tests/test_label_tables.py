"""Pictures listed in a CSV of file,label: one class a picture, or several with
dataset.label_separator (multi-label: a sigmoid per class, scored with scikit-learn's metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "dataset.cache=false", "dataset.image_size=8", "model=cnn",
         "model.channels=[8]", "model.fc_sizes=[16]")
COLOURS = ("red", "green", "blue")


def colour_picture(classes: Sequence[str], seed: int) -> Image.Image:
    """Each channel bright where its colour is one of the picture's classes, dim elsewhere."""
    rng = np.random.default_rng(seed)
    pixels = np.stack([np.full((8, 8), 200 if colour in classes else 40)
                       for colour in COLOURS], axis=-1) + rng.integers(0, 30, (8, 8, 3))
    return Image.fromarray(pixels.astype(np.uint8))


def write_tagged(folder: Path, count: int, seed: int, separator: str = ";") -> Path:
    """``count`` pictures in folder/pics/ and folder/tags.csv listing them (paths relative to
    the CSV) with one to three colours each."""
    rng = np.random.default_rng(seed)
    rows: List[str] = []
    (folder / "pics").mkdir(parents=True)
    for index in range(count):
        classes = [colour for colour in COLOURS if rng.random() < 0.5] or ["red"]
        colour_picture(classes, seed * 1000 + index).save(folder / "pics" / f"{index:03d}.png")
        rows.append(f"pics/{index:03d}.png,{separator.join(classes)}")
    table = folder / "tags.csv"
    table.write_text("image,tags\n" + "\n".join(rows) + "\n")
    return table


def test_a_multilabel_csv_trains_a_sigmoid_per_class_scored_as_scikit_learn_scores_it(
        nnrun, tmp_path):
    from sklearn import metrics

    train, test = write_tagged(tmp_path / "train", 90, 0), write_tagged(tmp_path / "test", 40, 1)
    run = nnrun("dataset=image_folder", f"dataset.path={train}", f"dataset.test_path={test}",
                "dataset.label_separator=semicolon", "dataset.channels=3", "trainer.epochs=15",
                *QUICK)
    assert (f"dataset.path={train}: 90 pictures, the file in column image, the labels in column "
            f"tags (separated by ';': multi-label, 3 classes)") in run.log
    saved = load_checkpoint(run.dir, "best.pt")
    assert saved["model_spec"]["task"] == "multilabel"
    assert saved["class_names"] == ["blue", "green", "red"]
    scores = run.summary["test"]
    assert scores["average_precision_macro"] > 0.9  # the colours are easy to see
    predicted = tmp_path / "predicted.csv"
    nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'test' / 'pics'}",
          f"output={predicted}")
    table = pd.read_csv(predicted)
    truth = pd.read_csv(test)
    assert [Path(path).name for path in table["path"]] == \
        [Path(path).name for path in truth["image"]]
    names = saved["class_names"]
    y = np.array([[name in tags.split(";") for name in names] for tags in truth["tags"]], int)
    probability = table[[f"probability_{name}" for name in names]].to_numpy()
    chosen = (probability >= 0.5).astype(int)
    assert [";".join(n for n, c in zip(names, row) if c) for row in chosen] == \
        list(table["predicted"].fillna(""))
    expected = {
        "average_precision_macro": metrics.average_precision_score(y, probability,
                                                                   average="macro"),
        "roc_auc_macro": metrics.roc_auc_score(y, probability, average="macro"),
        "f1_macro": metrics.f1_score(y, chosen, average="macro", zero_division=0),
        "f1_micro": metrics.f1_score(y, chosen, average="micro", zero_division=0),
        "f1_samples": metrics.f1_score(y, chosen, average="samples", zero_division=0),
        "subset_accuracy": metrics.accuracy_score(y, chosen),
        "hamming_loss": metrics.hamming_loss(y, chosen)}
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-4), name


def test_a_single_label_csv_reads_files_relative_to_it_and_without_their_suffix(nnrun, tmp_path):
    folder = tmp_path / "kaggle"
    (folder / "train").mkdir(parents=True)
    rows = []
    for index in range(40):
        colour = COLOURS[index % 2]
        colour_picture([colour], index).save(folder / "train" / f"{index:04d}.jpg")
        rows.append(f"train/{index:04d},{colour}")  # Kaggle's ids: the name without .jpg
    (folder / "labels.csv").write_text("id,label\n" + "\n".join(rows) + "\n")
    run = nnrun("dataset=image_folder", f"dataset.path={folder / 'labels.csv'}",
                "trainer.epochs=1", *QUICK)
    saved = load_checkpoint(run.dir, "best.pt")
    assert saved["model_spec"]["task"] == "multiclass"
    assert saved["class_names"] == ["green", "red"]
    assert sum(run.summary["samples"].values()) == 40
