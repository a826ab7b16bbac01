"""Many image files to one uint8 array (N, C, H, W), saying in the log what conversion changed
(a line per kind) and naming the files that cannot be used. data/decode.py reads each file."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import math
import multiprocessing
import shutil
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from nnrecipes.core.console import work_progress
from nnrecipes.core.cpus import cores
from nnrecipes.core.memory import available_memory as _available_memory
from nnrecipes.data import image_cache
from nnrecipes.data.decode import NOTES, Decoded, Resize, decode_one, file_kind
from nnrecipes.data.errors import DataError
from nnrecipes.data.image_cache import DecodedFolder

log = logging.getLogger("nnrecipes")
SHOWN = 5  # bad files named in an error; the rest are counted
SKIP_BAD_HINT = "Remove them, or set dataset.skip_bad=true to leave them out"
# Pictures are held in memory where this many times their bytes are available: the decoded
# array, the splits cut from it, and as much again for the training itself (a small CNN's
# activations at 224 px are half a GiB a batch of 64), measured under a 1 GiB cgroup.
IN_MEMORY_FACTOR = 3


def decode_images(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                  skip_bad: bool, where: str, fix: str = SKIP_BAD_HINT,
                  cache: bool = False,
                  resize: Resize = Resize.squash) -> Tuple[np.ndarray, List[int]]:
    """uint8 images (N, C, H, W) and the indices of ``paths`` they came from. ``size`` is
    (width, height), or None to keep each image's own (then all must agree); ``resize`` the
    rule that brings a picture of another shape to it (decode.Resize). What was changed
    on the way is said in the log, a line per kind; files that cannot be read stop the run
    (the message ends with ``fix``) unless ``skip_bad``. With ``cache``, a folder decoded
    before with the same files and settings is read back instead (data/image_cache.py), and
    pixels that would not fit in memory stay in that file, a read-only memory map, which the
    data layer reads batch by batch (data/file_images.py)."""
    started = time.perf_counter()
    resize = Resize(resize)
    key = image_cache.cache_key(paths, channels, size, resize.value) if cache else None
    found = image_cache.load(key, len(paths)) if key else None
    cached = found is not None
    if found is None:
        if _kept_on_file(paths, channels, size, where, key):
            found = _decode_into(image_cache.Writing(key, (len(paths), channels, *size[::-1])),
                                 paths, channels, size, where, resize)
            _give_back_freed_memory()
        else:
            found = _decode_all(paths, channels, size, where, resize)
            if isinstance(found.images, list) and found.kept:
                _same_size(found.images, [paths[index] for index in found.kept], where)
            if key and found.kept:
                image_cache.store(key, found, len(paths))
    _report_bad(found.bad, skip_bad, where, fix)
    if not found.kept:
        raise DataError(f"{where} holds no readable images")
    _report_changes(Counter(found.notes), found.warned, where, size)
    seconds = time.perf_counter() - started
    verb, source = ("read", f", from the image cache in {image_cache.cache_folder()}") \
        if cached else ("decoded", "")
    log.info(f"{verb} {len(found.kept)} images from {where} in {seconds:.1f} s "
             f"({1000 * seconds / len(paths):.2f} s per 1,000){source}")
    return _in_memory_where_it_fits(found.images, where), found.kept


def _in_memory_where_it_fits(images: np.ndarray, where: str) -> np.ndarray:
    """A memory map read whole into memory where it fits (IN_MEMORY_FACTOR): as fast as
    ever; else kept as the map, said in the log."""
    if not isinstance(images, np.memmap):
        return images
    available = _available_memory()
    if _fits_in_memory(images.nbytes, available):
        return np.array(images)
    log.info(f"{where}: {images.nbytes / 2**30:.2f} GiB of pixels, more than a third of the "
             f"{available / 2**30:.2f} GiB of memory available: read from the decoded file "
             f"{images.filename} batch by batch")
    return images


# Files decoded per task of a parallel decode: enough to outweigh handing them over.
CHUNK = 256


def _decode_all(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                where: str, resize: Resize) -> DecodedFolder:
    """Every file decoded into memory; the images one array where they agree in size, else a
    list (for _same_size to name the sizes)."""
    blocks: List[np.ndarray] = []
    found = _decode_each(paths, channels, size, where, resize, blocks.append)
    found.images = np.concatenate(blocks) if len({block.shape[1:] for block in blocks}) == 1 \
        else [image for block in blocks for image in block]
    return found


def _decode_into(target, paths: Sequence[Path], channels: int, size: Tuple[int, int],
                 where: str, resize: Resize) -> DecodedFolder:
    """Every file decoded straight into the cache file ``target`` (image_cache.Writing), a
    chunk at a time: memory holds a few chunks, never the folder."""
    filled = [0]

    def keep(block: np.ndarray) -> None:
        target.images[filled[0]:filled[0] + len(block)] = block
        filled[0] += len(block)

    with target:
        found = _decode_each(paths, channels, size, where, resize, keep)
        if not found.kept:
            target.abandon()
            return found
        target.finish(found, len(paths))
    kept = image_cache.load(target.key, len(paths))
    if kept is None:
        raise DataError(f"{where}: the decoded pictures could not be kept in "
                        f"{image_cache.cache_folder()} (the log says why), and they do not fit "
                        f"in memory")
    return kept


def _decode_each(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                 where: str, resize: Resize, keep) -> DecodedFolder:
    """Every file decoded, in the cores this process may use (one process each), each chunk's
    pixels handed to ``keep`` in order as they come; the indices kept, the notes and the
    failures gathered."""
    workers = min(cores(), math.ceil(len(paths) / CHUNK))
    chunks = [(list(paths[start:start + CHUNK]), start) for start in range(0, len(paths), CHUNK)]
    found, notes = DecodedFolder(images=[], kept=[]), Counter()
    with work_progress(f"decoding {where}", len(paths)) as advance, _pool(workers) as pool:
        for (chunk, _), part in zip(chunks, _bounded_map(pool, workers, chunks, channels, size,
                                                         resize)):
            for block in part.images:
                keep(block)
            found.kept += part.kept
            found.warned += part.warned
            found.bad += part.bad
            notes.update(part.notes)
            advance(len(chunk))
    found.notes = dict(notes)
    return found


def _give_back_freed_memory() -> None:
    """glibc keeps freed memory for reuse: after the decoded chunks passed through, over a
    hundred MiB a run under a memory limit then lacks (the benchmark's 1 GiB cgroup)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to give back this way
        pass


def _bounded_map(pool, workers: int, chunks, channels: int, size, resize) -> Iterator:
    """_decode_chunk of each chunk, in order, with at most two chunks a worker decoded ahead
    of the one awaited (Executor.map would decode all ahead, into memory)."""
    if pool is None:
        yield from (_decode_chunk(chunk, start, channels, size, resize)
                    for chunk, start in chunks)
        return
    pending = collections.deque()
    for chunk, start in chunks:
        pending.append(pool.submit(_decode_chunk, chunk, start, channels, size, resize))
        if len(pending) >= 2 * workers:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[Optional[ProcessPoolExecutor]]:
    """Processes to decode in (Pillow holds the GIL for much of a small image's work), or None
    for one core. Forked on Linux: a spawned process spends 0.5 s importing before its first
    image (20,000 small PNGs on 2 cores: 1.2x faster spawned, 1.7x forked); the children only
    run Pillow and numpy, never torch, so torch's threads in this process do not matter."""
    if workers < 2:
        yield None
        return
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with warnings.catch_warnings():  # Python 3.12+ warns of fork in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
            yield pool


def _decode_chunk(paths: List[Path], start: int, channels: int,
                  size: Optional[Tuple[int, int]], resize: Resize) -> DecodedFolder:
    """Files ``start``... decoded, their images as few arrays as their sizes allow (one array
    crosses between processes much faster than hundreds)."""
    part, notes = DecodedFolder(images=[], kept=[]), Counter()
    for index, path in enumerate(paths, start):
        _collect(part, notes, path, index, decode_one(path, channels, size, resize))
    part.notes = dict(notes)
    same = len({pixels.shape for pixels in part.images}) == 1
    part.images = [np.stack(part.images)] if same else [pixels[None] for pixels in part.images]
    return part


def _collect(found: DecodedFolder, notes: Counter, path: Path, index: int,
             result: Union[Decoded, str]) -> None:
    if isinstance(result, str):
        found.bad.append(f"{path}: {result}")
        return
    found.images.append(result.pixels)
    found.kept.append(index)
    notes.update(note for note in result.notes if note in NOTES)
    found.warned += [f"{path}: {note[len('warning: '):]}" for note in result.notes
                     if note.startswith("warning: ")]


def _kept_on_file(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                  where: str, key: Optional[str]) -> bool:
    """Whether a folder is decoded into its cache file rather than memory: where its pixels
    would take more than a third of the memory available now (IN_MEMORY_FACTOR). Refused
    before decoding where they cannot go to a file: no cache (dataset.cache=false), no size
    given, or no room on the disk."""
    available = _available_memory()  # the cgroup's limit too: a container's, a SLURM job's
    pixels = size or _first_size(paths)
    if not paths or pixels is None:
        return False
    decoded = len(paths) * channels * pixels[0] * pixels[1]
    if _fits_in_memory(decoded, available):
        return False
    what = (f"{where}: {len(paths):,} images of {pixels[0]}x{pixels[1]}x{channels} would take "
            f"about {decoded / 2**30:.2f} GiB, more than a third of the "
            f"{available / 2**30:.2f} GiB of memory available")
    fits = int(math.sqrt(available / (IN_MEMORY_FACTOR * len(paths) * channels)))
    if key is None or size is None:
        why = "set dataset.cache=true to train from a decoded file on disk instead" \
            if key is None else "set dataset.image_size to decode them into a file instead"
        raise DataError(f"{what}; {why}, or set dataset.image_size={max(2, fits)} or smaller")
    _check_disk(decoded, what)
    log.info(f"{what}: decoded into {image_cache.cache_folder()} and read from there")
    return True


def _fits_in_memory(pixel_bytes: int, available: Optional[int]) -> bool:
    """Whether pictures of ``pixel_bytes`` are held in memory (IN_MEMORY_FACTOR; where the
    memory is not known, they are)."""
    return available is None or IN_MEMORY_FACTOR * pixel_bytes <= available


def _first_size(paths: Sequence[Path]) -> Optional[Tuple[int, int]]:
    """The size of the first regular picture among the first files (None if none opens)."""
    from PIL import Image

    regular = next((path for path in paths[:20] if not file_kind(path)), None)
    if regular is None:
        return None
    try:
        with warnings.catch_warnings():  # the decode says Pillow's warnings, by file
            warnings.simplefilter("ignore")
            with Image.open(regular) as first:
                return first.size
    except Exception:  # noqa: BLE001 - the decode says what is wrong with it
        return None


def _check_disk(needed: int, what: str) -> None:
    """Room for the decoded file in the cache's folder (its nearest existing parent's disk)."""
    folder = image_cache.cache_folder()
    existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise DataError(f"{what}, and the decoded file's {needed / 2**30:.1f} GiB do not fit "
                        f"the {free / 2**30:.1f} GiB free in {folder}; free room there, or name "
                        f"a folder with room in NNRECIPES_CACHE_DIR")


def _report_changes(notes: Counter, warned: List[str], where: str,
                    size: Optional[Tuple[int, int]]) -> None:
    """One line per kind of change the pixels went through; Pillow's warnings by file."""
    for note, text in NOTES.items():
        if notes[note]:
            to = f" to {size[0]}x{size[1]}" if note == "resized" and size else ""
            log.info(f"{where}: {notes[note]} image{'s' * (notes[note] > 1)} {text}{to}")
    for line in warned[:SHOWN]:
        log.warning(f"{where}: {line}")
    if len(warned) > SHOWN:
        log.warning(f"{where}: and {len(warned) - SHOWN} more warnings about other files")


def _report_bad(bad: List[str], skip_bad: bool, where: str, fix: str) -> None:
    if not bad:
        return
    listed = "; ".join(bad[:SHOWN]) + (f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN
                                       else "")
    if not skip_bad:
        raise DataError(f"{where}: {_files_not_images(len(bad))}: {listed}. {fix}")
    log.warning(f"{where}: left out {_files_not_images(len(bad))}: {listed}")


def _files_not_images(count: int) -> str:
    """Unreadable files, and images 8 bits cannot carry (decode.py says which and why)."""
    return "1 file that is not a usable image" if count == 1 else \
        f"{count} files that are not usable images"


def _same_size(images: List[np.ndarray], paths: List[Path], where: str) -> None:
    sizes = {}
    for pixels, path in zip(images, paths):
        sizes.setdefault(pixels.shape[1:], []).append(path)
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w} ({len(found)}, e.g. {found[0].name})"
                          for (h, w), found in sorted(sizes.items(), key=lambda i: -len(i[1])))
        raise DataError(f"{where} holds images of different sizes: {shown}; set "
                        f"dataset.image_size to resize them all to one")
