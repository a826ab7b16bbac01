"""Image folders decoded once: the cache is reused by later runs, never trusted when the files
or the settings changed or the cache file is damaged, and can be turned off; decoding runs in
several processes with the same result; a folder too large for memory is refused first."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nnrecipes.data import image_files
from nnrecipes.data.errors import DataError
from nnrecipes.data.stand_ins import write_image_folder

QUICK = ("dataset=image_folder", "model=cnn", "trainer.epochs=1", "trainer.plots=false",
         "trainer.progress=false", "dataset.image_size=16")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("NNRECIPES_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def photos(tmp_path):
    write_image_folder(tmp_path, per_class=6)
    return tmp_path / "image_folder"


def _files(folder):
    return sorted(path for path in folder.rglob("*.png"))


def _load(paths, caplog, cache=True, size=(16, 16)):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="nnrecipes"):
        images, kept = image_files.decode_images(paths, 1, size, False, "test", cache=cache)
    said = "read" if "from the image cache" in caplog.text else "decoded"
    return images, kept, said


def test_a_later_run_reads_the_cache(nnrun, photos, cache_dir, tmp_path):
    first = nnrun(*QUICK, f"dataset.path={photos}")
    assert "decoded 60 images" in (first.dir / "nnrun.log").read_text()
    assert len(list(cache_dir.glob("*.npz"))) == 1
    later = tmp_path / "later"  # another process, as a later run or a SLURM job is
    subprocess.run([sys.executable, "-m", "nnrecipes.cli", *QUICK, f"dataset.path={photos}",
                    "optimizer.lr=0.01", f"hydra.run.dir={later}"], check=True,
                   capture_output=True)
    log = (later / "nnrun.log").read_text()
    assert "read 60 images" in log and "from the image cache" in log
    assert first.summary["samples"] == json.loads((later / "summary.json").read_text())[
        "samples"]


def test_a_changed_added_or_removed_file_or_size_is_decoded_again(photos, cache_dir, caplog):
    paths = _files(photos)
    original, _, said = _load(paths, caplog)
    assert said == "decoded"
    assert _load(paths, caplog)[2] == "read"
    Image.fromarray(np.full((28, 28), 255, dtype=np.uint8)).save(paths[0])  # changed
    os.utime(paths[0], ns=(1, 1))  # even with an older time: size and time both differ
    images, _, said = _load(paths, caplog)
    assert said == "decoded" and images[0].max() == 255 and not np.array_equal(images[0],
                                                                              original[0])
    extra = paths[0].parent / "zz_extra.png"  # added
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(extra)
    assert _load(_files(photos), caplog)[2] == "decoded"
    extra.unlink()  # removed
    assert _load(_files(photos), caplog)[2] == "read"  # back to a folder cached before
    assert _load(_files(photos), caplog, size=(20, 20))[2] == "decoded"  # another size


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong arrays"])
def test_a_damaged_cache_file_is_decoded_again_and_replaced(photos, cache_dir, caplog, damage):
    paths = _files(photos)
    decoded, _, _ = _load(paths, caplog)
    cached = next(cache_dir.glob("*.npz"))
    if damage == "truncated":  # a write killed half way (were it not renamed into place)
        cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    elif damage == "garbage":
        cached.write_bytes(b"not a cache")
    else:
        np.savez(cached.open("wb"), images=np.zeros((2, 3), np.uint8), kept=np.arange(5),
                 meta=np.frombuffer(b"{}", np.uint8))
    images, _, said = _load(paths, caplog)
    assert said == "decoded" and "is unreadable" in caplog.text
    assert np.array_equal(images, decoded)
    assert _load(paths, caplog)[2] == "read"  # the replacement is whole


def test_no_cache_when_turned_off(nnrun, photos, cache_dir):
    nnrun(*QUICK, f"dataset.path={photos}", "dataset.cache=false")
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_parallel_decoding_equals_one_process(photos, cache_dir, caplog, monkeypatch):
    paths = _files(photos) * 10  # 600 files: three chunks of 256
    monkeypatch.setattr(image_files, "cores", lambda: 1)
    alone, kept_alone, _ = _load(paths, caplog, cache=False)
    monkeypatch.setattr(image_files, "cores", lambda: 2)
    together, kept_together, _ = _load(paths, caplog, cache=False)
    assert np.array_equal(alone, together) and kept_alone == kept_together


def test_a_folder_too_large_for_memory_is_refused_before_decoding(photos, cache_dir,
                                                                   monkeypatch):
    monkeypatch.setattr(image_files, "_available_memory", lambda: 100_000)
    monkeypatch.setattr(image_files, "decode_one", lambda *args: pytest.fail("decoded"))
    with pytest.raises(DataError) as refused:
        image_files.decode_images(_files(photos), 3, (224, 224), False, "dataset.path=photos")
    message = str(refused.value)
    assert "60 images of 224x224x3 would take about" in message
    assert "set dataset.image_size=16 or smaller" in message


def test_things_that_are_not_files_are_never_opened_and_skip_bad_leaves_them_out(
        nnrun, photos, cache_dir, tmp_path):
    """A named pipe in a class folder would block the decoder for ever (a test with a timeout:
    it runs in a process of its own); a link that leads nowhere cannot even be stat'ed for the
    cache's key. Each is named; dataset.skip_bad=true leaves both out."""
    classes = sorted(path for path in photos.iterdir() if path.is_dir())
    os.mkfifo(classes[0] / "pipe.png")
    (classes[1] / "gone.png").symlink_to(tmp_path / "nowhere.png")
    command = [sys.executable, "-m", "nnrecipes.cli", *QUICK, f"dataset.path={photos}",
               f"hydra.run.dir={tmp_path / 'refused'}"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    said = refused.stdout + refused.stderr
    assert "pipe.png: not a regular file (a named pipe)" in said
    assert f"gone.png: unreadable (a link to {tmp_path / 'nowhere.png'} that leads nowhere)" \
        in said
    assert "Traceback" not in said
    skipped = subprocess.run([*command[:-1], "dataset.skip_bad=true",
                              f"hydra.run.dir={tmp_path / 'skipped'}"],
                             capture_output=True, text=True, timeout=120)
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads((tmp_path / "skipped" / "summary.json").read_text())["status"] == \
        "completed"


def test_a_cache_file_of_other_files_is_not_trusted(photos, cache_dir, tmp_path, caplog):
    """A cache file whole in itself but written for other files (copied under this folder's
    name) is decoded again, not read."""
    paths = _files(photos)
    _load(paths[:10], caplog)
    other = next(cache_dir.glob("*.npz"))
    _load(paths, caplog)
    mine = next(path for path in cache_dir.glob("*.npz") if path != other)
    mine.write_bytes(other.read_bytes())
    images, kept, said = _load(paths, caplog)
    assert said == "decoded" and len(kept) == len(paths)
    assert "holds the images of other files" in caplog.text
