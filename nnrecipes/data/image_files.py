"""Many image files to one uint8 array (N, C, H, W), saying in the log what conversion changed
(a line per kind) and naming the files that cannot be used. data/decode.py reads each file."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from nnrecipes.core.console import work_progress
from nnrecipes.data.decode import NOTES, decode_one
from nnrecipes.data.errors import DataError

log = logging.getLogger("nnrecipes")
SHOWN = 5  # bad files named in an error; the rest are counted
SKIP_BAD_HINT = "Remove them, or set dataset.skip_bad=true to leave them out"


def decode_images(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
                  skip_bad: bool, where: str,
                  fix: str = SKIP_BAD_HINT) -> Tuple[np.ndarray, List[int]]:
    """uint8 images (N, C, H, W) and the indices of ``paths`` they came from. ``size`` is
    (width, height), or None to keep each image's own (then all must agree). What was changed
    on the way is said in the log, a line per kind; files that cannot be read stop the run
    (the message ends with ``fix``) unless ``skip_bad``."""
    started, decoded, kept, bad = time.perf_counter(), [], [], []
    notes: Counter = Counter()
    warned: List[str] = []
    with work_progress(f"decoding {where}", len(paths)) as advance:
        for index, path in enumerate(paths):
            result = decode_one(path, channels, size)
            if isinstance(result, str):
                bad.append(f"{path}: {result}")
            else:
                decoded.append(result.pixels)
                kept.append(index)
                notes.update(note for note in result.notes if note in NOTES)
                warned += [f"{path}: {note[len('warning: '):]}" for note in result.notes
                           if note.startswith("warning: ")]
            advance()
    _report_bad(bad, skip_bad, where, fix)
    if not decoded:
        raise DataError(f"{where} holds no readable images")
    _same_size(decoded, [paths[index] for index in kept], where)
    _report_changes(notes, warned, where, size)
    seconds = time.perf_counter() - started
    log.info(f"decoded {len(decoded)} images from {where} in {seconds:.1f} s "
             f"({1000 * seconds / len(paths):.2f} s per 1,000)")
    return np.stack(decoded), kept


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
