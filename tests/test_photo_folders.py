"""Photo folders as people have them: pictures the right way up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nnrecipes.data.decode import EXIF_ORIENTATION, decode_one

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
