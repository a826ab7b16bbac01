"""Photo folders as people have them: pictures the right way up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nnrecipes.data.decode import EXIF_ORIENTATION, decode_one
from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "trainer.baseline=off", "dataset.cache=false")
T = Image.Transpose
# The EXIF standard's table, as a camera writes it: how the stored pixels were turned or
# mirrored from the upright picture under each orientation tag (6: the viewer turns the stored
# pixels 90 degrees clockwise, so they were stored turned 90 degrees the other way).
STORED = {1: None, 2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
          6: T.ROTATE_90, 7: T.TRANSVERSE, 8: T.ROTATE_270}


def upright_picture(seed: int, shade: int) -> Image.Image:
    """12 wide by 8 high, no two pixels alike: any turn or mirror shows."""
    generator = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:8, 0:12]
    pixels = np.stack([rows * 30, columns * 20, np.full_like(rows, shade)], axis=-1)
    pixels = pixels + generator.integers(0, 10, pixels.shape)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def save_as_camera(picture: Image.Image, tag: int, path: Path) -> Path:
    stored = picture if STORED[tag] is None else picture.transpose(STORED[tag])
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = tag
    stored.save(path, exif=exif)
    return path


@pytest.mark.parametrize("tag", sorted(STORED))
def test_each_exif_orientation_decodes_as_the_upright_picture(tag, tmp_path):
    picture = upright_picture(0, 100)
    decoded = decode_one(save_as_camera(picture, tag, tmp_path / "photo.png"), 3, None)
    assert decoded.pixels.shape == (3, 8, 12)
    assert np.array_equal(decoded.pixels, np.asarray(picture).transpose(2, 0, 1))
    assert ("upright" in decoded.notes) == (tag != 1)


def test_sideways_photos_train_and_predict_as_the_upright_ones(nnrun, tmp_path):
    for folder, tagged in (("upright", False), ("camera", True)):
        for label, shade in (("dark", 30), ("light", 220)):
            (tmp_path / folder / label).mkdir(parents=True)
            for index in range(16):
                picture = upright_picture(index, shade)
                path = tmp_path / folder / label / f"{index}.png"
                save_as_camera(picture, 1 + index % 8 if tagged else 1, path)
    runs = {folder: nnrun("dataset=image_folder", f"dataset.path={tmp_path / folder}",
                          "dataset.image_size=8", "model=cnn", "trainer.epochs=2", *QUICK)
            for folder in ("upright", "camera")}
    log_text = (runs["camera"].dir / "nnrun.log").read_text()
    assert "were turned upright as their EXIF orientation says" in log_text
    predictions = {}
    for folder, run in runs.items():
        predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'camera'}")
        predictions[folder] = pd.read_csv(predicted.dir / "predictions.csv")
    columns = [name for name in predictions["upright"] if name.startswith("probability")]
    # the same pixels, so the same training and the same predictions for the sideways files
    assert np.allclose(predictions["upright"][columns], predictions["camera"][columns])


def wide_picture(path: Path) -> Path:
    """16 wide by 8 high: a left half at 50, a right half at 200, one white column at x=0."""
    pixels = np.full((8, 16), 50, np.uint8)
    pixels[:, 8:] = 200
    pixels[:, 0] = 255
    Image.fromarray(pixels, "L").save(path)
    return path


def test_each_resize_rule_brings_a_wide_picture_to_the_square_its_own_way(tmp_path):
    path = wide_picture(tmp_path / "wide.png")
    squashed = decode_one(path, 1, (8, 8), "squash")
    cropped = decode_one(path, 1, (8, 8), "crop")
    padded = decode_one(path, 1, (8, 8), "pad")
    assert {"resized", "stretched"} <= set(squashed.notes)
    # crop: already 8 high, so the centre 8 columns of 16, the white edge cut away
    assert "cropped" in cropped.notes
    assert np.array_equal(cropped.pixels[0], np.asarray(Image.open(path))[:, 4:12])
    # pad: 8 by 4 in the middle of black rows, the white edge kept
    assert "padded" in padded.notes
    assert padded.pixels[0, :2].max() == 0 and padded.pixels[0, 6:].max() == 0
    assert padded.pixels[0, 2:6, 0].min() > 100  # the white edge, halved with its neighbour
    assert squashed.pixels[0, :, 0].min() > 100  # stretched: the edge squeezed, not cut
    assert cropped.pixels[0, :, 0].max() == 50


@pytest.mark.parametrize("rule", ["squash", "crop", "pad"])
def test_predict_and_the_onnx_export_give_the_checkpoints_outputs_under_each_rule(
        rule, nnrun, tmp_path):
    import onnxruntime
    import torch

    from nnrecipes.components.models import model_from_checkpoint
    from nnrecipes.export import main as export

    for label, shade in (("dark", 30), ("light", 220)):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for index in range(12):
            picture = upright_picture(index, shade)  # 12 by 8: not square
            picture.save(tmp_path / "photos" / label / f"{index}.png")
    run = nnrun("dataset=image_folder", f"dataset.path={tmp_path / 'photos'}",
                "dataset.image_size=6", f"dataset.resize={rule}", "dataset.channels=3",
                "model=cnn", "model.channels=[4]", "trainer.epochs=1", *QUICK)
    predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'photos'}")
    table = pd.read_csv(predicted.dir / "predictions.csv")
    columns = [name for name in table if name.startswith("probability")]
    pixels = np.stack([decode_one(Path(path), 3, (6, 6), rule).pixels for path in table["path"]])
    model = model_from_checkpoint(load_checkpoint(run.dir, "best.pt")).eval()
    with torch.no_grad():
        own = torch.softmax(model(torch.from_numpy(pixels)), dim=1).numpy()
    assert np.allclose(table[columns].to_numpy(), own, atol=1e-4)
    assert export([str(run.dir), "--format", "onnx", "--output", str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "model.json").read_text())["resize"] == rule
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "model.onnx"))
    logits = session.run(None, {session.get_inputs()[0].name: pixels})[0]
    exported = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(exported, own, atol=1e-4)


def split_layout(root: Path, splits=("train", "valid", "test"), per_split=(20, 6, 6)) -> Path:
    """Published image sets' layout: split folders, each holding a folder per class."""
    for split, count in zip(splits, per_split):
        for label, shade in (("cat", 40), ("dog", 210)):
            (root / split / label).mkdir(parents=True)
            for index in range(count):
                upright_picture(index, shade).save(root / split / label / f"{index}.png")
    return root


def test_train_valid_test_folders_are_the_splits_not_three_classes(nnrun, tmp_path):
    root = split_layout(tmp_path / "published")
    run = nnrun("dataset=image_folder", f"dataset.path={root}", "dataset.image_size=8",
                "model=cnn", "model.channels=[4]", "trainer.epochs=1", *QUICK)
    log_text = (run.dir / "nnrun.log").read_text()
    assert "laid out in splits (train/, valid/, test/)" in log_text
    assert "validation from its own folder" in log_text
    assert load_checkpoint(run.dir, "best.pt")["class_names"] == ["cat", "dog"]
    assert run.summary["samples"] == {"train": 40, "val": 12, "test": 12}


def test_without_a_val_folder_validation_is_drawn_and_the_key_reads_folders_as_classes(
        nnrun, tmp_path):
    root = split_layout(tmp_path / "two", splits=("train", "test"), per_split=(20, 6))
    run = nnrun("dataset=image_folder", f"dataset.path={root}", "dataset.image_size=8",
                "model=cnn", "model.channels=[4]", "trainer.epochs=1", *QUICK)
    assert "validation from a seeded draw" in (run.dir / "nnrun.log").read_text()
    assert run.summary["samples"]["test"] == 12
    # classes: each split folder a class, its class folders nested inside (read recursively)
    forced = nnrun("dataset=image_folder", f"dataset.path={root}", "dataset.layout=classes",
                   "dataset.image_size=8", "model=cnn", "model.channels=[4]",
                   "trainer.epochs=1", *QUICK)
    assert load_checkpoint(forced.dir, "best.pt")["class_names"] == ["test", "train"]


def test_two_folders_for_one_split_are_refused_naming_them(tmp_path):
    from nnrecipes.data.errors import DataError
    from nnrecipes.data.folder_layout import Layout, split_folders

    for split in ("train", "val", "valid"):
        (tmp_path / split / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="two folders for one split: train, val, valid"):
        split_folders(tmp_path, Layout.auto, "dataset.path")


def test_a_folder_holding_one_folder_is_read_one_level_deeper_and_tool_folders_are_not_classes(
        nnrun, tmp_path):
    # as an archive unpacks: photos/PetImages/{cat,dog}, with macOS's __MACOSX beside it
    root = tmp_path / "photos"
    split_layout(root / "PetImages" / "x", splits=("train",), per_split=(16,))
    for label in ("cat", "dog"):
        (root / "PetImages" / "x" / "train" / label).rename(root / "PetImages" / label)
    for folder in ("x/train", "x"):
        (root / "PetImages" / folder).rmdir()
    (root / "PetImages" / "__MACOSX" / "cat").mkdir(parents=True)
    (root / "PetImages" / "__MACOSX" / "cat" / "._0.png").write_bytes(b"resource fork")
    (root / ".DS_Store").write_bytes(b"")
    run = nnrun("dataset=image_folder", f"dataset.path={root}", "dataset.image_size=8",
                "model=cnn", "model.channels=[4]", "trainer.epochs=1", *QUICK)
    assert (f"dataset.path={root} holds one folder, PetImages/, and nothing else: the pictures "
            f"are read from it") in run.log
    assert load_checkpoint(run.dir, "best.pt")["class_names"] == ["cat", "dog"]
    assert sum(run.summary["samples"].values()) == 32


def test_a_test_path_wins_over_the_layouts_test_folder_said_in_the_log(nnrun, tmp_path):
    root = split_layout(tmp_path / "published", splits=("train", "test"), per_split=(20, 6))
    other = split_layout(tmp_path / "other", splits=("test",), per_split=(9,)) / "test"
    run = nnrun("dataset=image_folder", f"dataset.path={root}", f"dataset.test_path={other}",
                "dataset.image_size=8", "model=cnn", "model.channels=[4]", "trainer.epochs=1", *QUICK)
    assert f"dataset.test_path={other} is the test split, not {root / 'test'}" in run.log
    assert run.summary["samples"]["test"] == 18
