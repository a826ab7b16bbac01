"""Many image files to one uint8 array (N, C, H, W), saying in the log what conversion changed
(a line per kind) and naming the files that cannot be used. data/decode.py reads each file."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
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


def decode_images(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                  skip_bad: bool, where: str, fix: str = SKIP_BAD_HINT,
                  cache: bool = False,
                  resize: Resize = Resize.squash) -> Tuple[np.ndarray, List[int]]:
    """uint8 images (N, C, H, W) and the indices of ``paths`` they came from. ``size`` is
    (width, height), or None to keep each image's own (then all must agree); ``resize`` the
    rule that brings a picture of another shape to it (decode.Resize). What was changed
    on the way is said in the log, a line per kind; files that cannot be read stop the run
    (the message ends with ``fix``) unless ``skip_bad``. With ``cache``, a folder decoded
    before with the same files and settings is read back instead (data/image_cache.py)."""
    started = time.perf_counter()
    resize = Resize(resize)
    key = image_cache.cache_key(paths, channels, size, resize.value) if cache else None
    found = image_cache.load(key, len(paths)) if key else None
    cached = found is not None
    if found is None:
        _check_fits_in_memory(paths, channels, size, where)
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
    return found.images, found.kept


# Files decoded per task of a parallel decode: enough to outweigh handing them over.
CHUNK = 256


def _decode_all(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                where: str, resize: Resize) -> DecodedFolder:
    """Every file decoded, in the cores this process may use (one process each); the images
    one array where they agree in size, else a list (for _same_size to name the sizes)."""
    workers = min(cores(), math.ceil(len(paths) / CHUNK))
    starts = range(0, len(paths), CHUNK)
    chunks = [list(paths[start:start + CHUNK]) for start in starts]
    found, blocks, notes = DecodedFolder(images=[], kept=[]), [], Counter()
    with work_progress(f"decoding {where}", len(paths)) as advance, _pool(workers) as pool:
        arguments = (chunks, starts, [channels] * len(chunks), [size] * len(chunks),
                     [resize] * len(chunks))
        parts = pool.map(_decode_chunk, *arguments) if pool else map(_decode_chunk, *arguments)
        for chunk, part in zip(chunks, parts):
            blocks += part.images
            found.kept += part.kept
            found.warned += part.warned
            found.bad += part.bad
            notes.update(part.notes)
            advance(len(chunk))
    found.notes = dict(notes)
    found.images = np.concatenate(blocks) if len({block.shape[1:] for block in blocks}) == 1 \
        else [image for block in blocks for image in block]
    return found


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


def _check_fits_in_memory(paths: Sequence[Path], channels: int,
                          size: Optional[Tuple[int, int]], where: str) -> None:
    """Refuse, before decoding, a folder whose pixels would take more than half the memory
    available now (the run holds them twice: decoded, and as the training tensor)."""
    available = _available_memory()  # the cgroup's limit too: a container's, a SLURM job's
    if available is None or not paths:
        return
    if size is None:
        from PIL import Image

        regular = next((path for path in paths[:20] if not file_kind(path)), None)
        if regular is None:
            return
        try:
            with warnings.catch_warnings():  # the decode says Pillow's warnings, by file
                warnings.simplefilter("ignore")
                with Image.open(regular) as first:
                    size = first.size
        except Exception:  # noqa: BLE001 - the decode says what is wrong with it
            return
    needed = 2 * len(paths) * channels * size[0] * size[1]
    if needed <= available:
        return
    fits = int(math.sqrt(available / (2 * len(paths) * channels)))
    raise DataError(f"{where}: {len(paths):,} images of {size[0]}x{size[1]}x{channels} would "
                    f"take about {needed / 2**30:.1f} GiB, more than the "
                    f"{available / 2**30:.1f} GiB of memory available; set "
                    f"dataset.image_size={max(2, fits)} or smaller")


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
