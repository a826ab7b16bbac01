"""Decoded image folders kept on disk, so a folder is decoded once, not in every run and every
sweep job (Ludwig keeps a preprocessed cache the same way).

One .npy file of pixels and a .json record per (files, pixel settings): the key hashes every
file's path, size and modification time with the settings that change the pixels (channels,
size, resize rule) and the decoder's version, so a changed, added or removed file, or another
size, is another key. The pixels are read in place: a folder larger than memory trains from
the file (its rows read batch by batch, data/file_images.py), and every run, sweep job, fold,
torchrun rank and predict of the same files shares it. The file is written under a temporary
name and renamed, its record written last (never seen half-written); one that cannot be read
back whole (the record, the array's shape) is decoded again and replaced, never trusted.

Where: ``$NNRECIPES_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnrecipes/images``, else
``~/.cache/nnrecipes/images``. ``dataset.cache=false`` neither reads nor writes it; deleting the
folder is always safe.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

log = logging.getLogger("nnrecipes")
VERSION = 4  # of the decoding rules (decode.py) and the file's record: old files go unused


@dataclass
class DecodedFolder:
    """Images that decoded (N, C, H, W uint8), the indices of the paths they came from, and
    what the log says about them: notes per kind, Pillow's warnings, files that failed."""

    images: np.ndarray
    kept: List[int]
    notes: dict = field(default_factory=dict)
    warned: List[str] = field(default_factory=list)
    bad: List[str] = field(default_factory=list)


def cache_folder() -> Path:
    if os.environ.get("NNRECIPES_CACHE_DIR"):
        return Path(os.environ["NNRECIPES_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnrecipes" / "images"


def cache_key(paths: Sequence[Path], channels: int, size: Optional[Tuple[int, int]],
              resize: str = "squash") -> str:
    digest = hashlib.sha256(json.dumps([VERSION, channels, size, resize]).encode())
    for path in map(os.fspath, paths):
        if not os.path.isabs(path):  # not resolve(): a syscall per folder of the path
            path = os.path.abspath(path)
        try:
            facts = os.stat(path)
            digest.update(f"{path}\0{facts.st_size}\0{facts.st_mtime_ns}\n".encode())
        except OSError:  # a link that leads nowhere: decoding says so (or skips it)
            digest.update(f"{path}\0unreadable\n".encode())
    return digest.hexdigest()[:32]


def _files(key: str) -> Tuple[Path, Path]:
    """The pixels (a .npy file, read in place as a memory map) and their record (.json)."""
    return cache_folder() / f"{key}.npy", cache_folder() / f"{key}.json"


def load(key: str, files: int) -> Optional[DecodedFolder]:
    """The cached folder of ``files`` files, its images a read-only memory map of the file (the
    pages the run reads, not the whole), or None (absent, unreadable, or written for other
    files under this name: then it is decoded again)."""
    pixels, record = _files(key)
    if not (pixels.is_file() and record.is_file()):
        return None
    try:
        meta = json.loads(record.read_text())
        kept = meta["kept"]
        images = np.load(pixels, mmap_mode="r", allow_pickle=False)
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) < len(kept):
            raise ValueError(f"an array of shape {images.shape} for {len(kept)} images")
        if meta.get("key") != key or meta.get("files") != files or \
                any(not 0 <= index < files for index in kept):
            raise ValueError("it holds the images of other files")
    except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
        log.warning(f"image cache {pixels} is unreadable ({type(error).__name__}: {error}); "
                    f"decoding the images again")
        return None
    return DecodedFolder(images[:len(kept)], kept, meta["notes"], meta["warned"], meta["bad"])


def store(key: str, folder: DecodedFolder, files: int) -> None:
    """Write the cache of ``files`` files (its images in memory) atomically; one that cannot
    be written is said, not fatal."""
    try:
        writing = Writing(key, (len(folder.images), *folder.images.shape[1:]))
    except OSError as error:
        _not_cached(error)
        return
    writing.images[:] = folder.images
    writing.finish(folder, files)


class Writing:
    """A cache file being filled in place, chunk by chunk (a folder larger than memory never
    is whole in it): ``images`` is a writable memory map of ``shape``; ``finish`` records what
    was decoded and puts the file in place; until then the file has a name load never reads."""

    def __init__(self, key: str, shape: Tuple[int, ...]):
        self.key = key
        self.pixels, self.record = _files(key)
        self.pixels.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.pixels.parent, suffix=".npy.part")
        os.close(handle)
        self.temporary = Path(name)
        self.images = np.lib.format.open_memmap(self.temporary, mode="w+", dtype=np.uint8,
                                                shape=shape)
        _reserve(self.temporary)

    def __enter__(self) -> "Writing":
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is not None:
            self.abandon()

    def finish(self, folder: DecodedFolder, files: int) -> None:
        meta = json.dumps({"notes": folder.notes, "warned": folder.warned, "bad": folder.bad,
                           "key": self.key, "files": files, "kept": list(folder.kept)})
        try:
            self.images.flush()
            del self.images  # the map closed before the file is renamed
            os.replace(self.temporary, self.pixels)
            handle, name = tempfile.mkstemp(dir=self.record.parent, suffix=".json.part")
            with os.fdopen(handle, "w") as file:
                file.write(meta)
                file.flush()
                os.fsync(file.fileno())
            os.replace(name, self.record)
        except OSError as error:
            _not_cached(error)
            self.abandon()

    def abandon(self) -> None:
        self.images = None
        self.temporary.unlink(missing_ok=True)


def _reserve(path: Path) -> None:
    """The file's blocks taken now: a disk that fills while a memory map is written kills the
    process (SIGBUS); here it is an OSError before the first picture."""
    with open(path, "r+b") as file:
        try:
            os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                file.close()
                path.unlink(missing_ok=True)
                raise


def _not_cached(error: OSError) -> None:
    log.warning(f"the decoded images could not be cached in {cache_folder()} ({error}); the "
                f"next run decodes them again")
