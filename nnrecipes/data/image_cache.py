"""Decoded image folders kept on disk, so a folder is decoded once, not in every run and every
sweep job (Ludwig keeps a preprocessed cache the same way).

One file per (files, pixel settings): the key hashes every file's path, size and modification
time with the settings that change the pixels (channels, size) and the decoder's version, so a
changed, added or removed file, or another size, is another key. The file is written to a
temporary name and renamed (never seen half-written); one that cannot be read back whole
(zip's checksums, the arrays' shapes) is decoded again and replaced, never trusted.

Where: ``$NNRECIPES_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnrecipes/images``, else
``~/.cache/nnrecipes/images``. ``dataset.cache=false`` neither reads nor writes it; deleting the
folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

log = logging.getLogger("nnrecipes")
VERSION = 3  # of the decoding rules (decode.py) and the file's record: old files go unused


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


def load(key: str, files: int) -> Optional[DecodedFolder]:
    """The cached folder of ``files`` files, or None (absent, unreadable, or written for other
    files under this name: then it is decoded again)."""
    path = cache_folder() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(bytes(saved["meta"]).decode())
            images, kept = saved["images"], saved["kept"].tolist()
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(kept):
            raise ValueError(f"arrays of shape {images.shape} and {len(kept)} indices")
        if meta.get("key") != key or meta.get("files") != files or \
                any(not 0 <= index < files for index in kept):
            raise ValueError("it holds the images of other files")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        log.warning(f"image cache {path} is unreadable ({type(error).__name__}: {error}); "
                    f"decoding the images again")
        return None
    return DecodedFolder(images, kept, meta["notes"], meta["warned"], meta["bad"])


def store(key: str, folder: DecodedFolder, files: int) -> None:
    """Write the cache file of ``files`` files atomically, its key inside (load checks it); a
    cache that cannot be written is said, not fatal."""
    target = cache_folder() / f"{key}.npz"
    meta = json.dumps({"notes": folder.notes, "warned": folder.warned, "bad": folder.bad,
                       "key": key, "files": files})
    temporary = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, images=folder.images, kept=np.asarray(folder.kept, dtype=np.int64),
                     meta=np.frombuffer(meta.encode(), dtype=np.uint8))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except OSError as error:
        log.warning(f"the decoded images could not be cached in {target.parent} ({error}); "
                    f"the next run decodes them again")
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
