"""Image folders decoded once: the cache is reused by later runs, never trusted when the files
or the settings changed or the cache file is damaged, and can be turned off; decoding runs in
several processes with the same result; a folder too large for memory trains from its decoded
file, read in place batch by batch, with the same result as from memory."""

import json
import logging
import mmap
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
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
    assert len(list(cache_dir.glob("*.npy"))) == len(list(cache_dir.glob("*.json"))) == 1
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
    cached = next(cache_dir.glob("*.npy"))
    if damage == "truncated":  # a write killed half way (were it not renamed into place)
        cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    elif damage == "garbage":
        cached.write_bytes(b"not a cache")
    else:
        np.save(cached, np.zeros((2, 3), np.uint8))
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


def test_a_folder_too_large_for_memory_without_a_cache_is_refused_before_decoding(
        photos, cache_dir, monkeypatch):
    monkeypatch.setattr(image_files, "_available_memory", lambda: 100_000)
    monkeypatch.setattr(image_files, "decode_one", lambda *args: pytest.fail("decoded"))
    with pytest.raises(DataError) as refused:
        image_files.decode_images(_files(photos), 3, (224, 224), False, "dataset.path=photos")
    message = str(refused.value)
    assert "60 images of 224x224x3 would take about" in message
    assert "set dataset.cache=true to train from a decoded file on disk instead, or set " \
        "dataset.image_size=13 or smaller" in message


def test_a_folder_too_large_for_memory_trains_from_its_file_as_from_memory(
        nnrun, photos, cache_dir, monkeypatch, caplog):
    from nnrecipes.data.file_images import FileImages

    in_memory = nnrun(*QUICK, f"dataset.path={photos}", "dataset.cache=false", "seed=3",
                      "trainer.epochs=2")
    # 60 pictures of 16x16: 15 KB, more than a third of 20 KB
    monkeypatch.setattr(image_files, "_available_memory", lambda: 20_000)
    on_file = nnrun(*QUICK, f"dataset.path={photos}", "seed=3", "trainer.epochs=2")
    said = on_file.log
    assert "60 images of 16x16x1 would take about 0.00 GiB, more than a third of the 0.00 " \
        "GiB of memory available: decoded into" in said
    assert "read from the decoded file" in said and "batch by batch" in said
    assert on_file.metrics_rows() == [{**row, "seconds": on_file.metrics_rows()[i]["seconds"]}
                                      for i, row in enumerate(in_memory.metrics_rows())]
    assert on_file.summary["test"] == in_memory.summary["test"]
    # a later run reads the same file in place: the splits are its rows, never copies
    images, kept = image_files.decode_images(_files(photos), 1, (16, 16), False, "again",
                                             cache=True)
    assert isinstance(images, np.memmap) and len(kept) == 60
    split = FileImages(images, np.array([5, 1, 9]), torch.device("cpu"))
    assert torch.equal(split[torch.tensor([2, 0])], torch.from_numpy(images[[9, 5]]))


def test_reading_ahead_gives_each_batch_as_gathering_it_would(tmp_path, monkeypatch):
    """Each batch is the rows asked for; the kernel is asked to read each row's bytes before
    it is gathered and to drop them after (pages that the page cache would otherwise keep)."""
    from nnrecipes.data import file_images
    from nnrecipes.data.file_images import FileImages

    advised = []
    monkeypatch.setattr(file_images.os, "posix_fadvise",
                        lambda _, start, length, advice: advised.append((start, length, advice)),
                        raising=False)

    pixels = np.lib.format.open_memmap(tmp_path / "p.npy", mode="w+", dtype=np.uint8,
                                       shape=(50, 1, 2, 2))
    pixels[:] = np.arange(50, dtype=np.uint8)[:, None, None, None]
    split = FileImages(np.load(tmp_path / "p.npy", mmap_mode="r"), np.arange(10, 50),
                       torch.device("cpu"))
    batches = [torch.randperm(40)[:8] for _ in range(7)]
    seen = []
    for batch in split.read_ahead(iter(batches), rank=1, world_size=2):
        mine = batch[1::2]
        seen.append(split[mine][:, 0, 0, 0].long())
        assert torch.equal(seen[-1], mine + 10)
    assert len(seen) == 7 and not split._ready  # every batch read ahead was used
    data = (tmp_path / "p.npy").read_bytes()
    read = {row for batch in batches for row in (batch[1::2] + 10).tolist()}
    for advice in ("POSIX_FADV_WILLNEED", "POSIX_FADV_DONTNEED"):
        ranges = [(start, length) for start, length, kind in advised
                  if kind == getattr(file_images.os, advice, advice)]
        assert len(ranges) == sum(len(batch[1::2]) for batch in batches)
        for row in read:  # a row's own bytes lie in some advised range of whole pages
            start = split._offset(row)
            assert data[start:start + 4] == pixels[row].tobytes()
            assert any(begin <= start and start + 4 <= begin + length and begin % mmap.PAGESIZE == 0
                       for begin, length in ranges)


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
    other = next(cache_dir.glob("*.json"))
    _load(paths, caplog)
    mine = next(path for path in cache_dir.glob("*.json") if path != other)
    mine.write_bytes(other.read_bytes())
    images, kept, said = _load(paths, caplog)
    assert said == "decoded" and len(kept) == len(paths)
    assert "holds the images of other files" in caplog.text


def _memory_cgroup(tmp_name: str, limit: int):
    """A real memory cgroup (v1's controller, as on these machines, or v2) limited to ``limit``
    bytes, or None where this process may not make one (not root, no controller)."""
    from pathlib import Path

    root = Path("/sys/fs/cgroup/memory")
    v1 = root.is_dir()
    folder = (root if v1 else Path("/sys/fs/cgroup")) / tmp_name
    try:
        folder.mkdir()
        (folder / ("memory.limit_in_bytes" if v1 else "memory.max")).write_text(str(limit))
    except OSError:
        return None
    return folder


def test_the_memory_a_process_may_use_is_its_cgroups_limit_not_the_machines():
    limit = 700 * 2**20
    folder = _memory_cgroup(f"nnrecipes-test-{os.getpid()}", limit)
    if folder is None:
        pytest.skip("no memory cgroup can be made here (root and a memory controller needed)")
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from nnrecipes.core.memory import available_memory, "
             "_machine_available; print(available_memory(), _machine_available())"],
            capture_output=True, text=True, check=True,
            preexec_fn=lambda: (folder / "cgroup.procs").write_text(str(os.getpid())))
    finally:
        folder.rmdir()
    available, machine = map(int, done.stdout.split())
    assert machine > 2 * limit, "the test needs a machine with more memory than the limit"
    assert 0 < available <= limit
