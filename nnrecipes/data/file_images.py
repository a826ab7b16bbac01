"""Pictures that stay in their decoded file (data/image_cache.py) because they do not fit in
memory: a split is the file's memory map and the rows that belong to it, and a batch is those
rows gathered into a tensor on the device when the engine asks for it.

``FileImages`` answers the engine as a tensor of the split's images does: ``len``, ``shape``,
``device``, and indexing by a tensor of positions or a slice. ``read_ahead`` gathers the next
batches of an epoch in a background thread while the current one trains (reading the file is
the kernel's and releases the GIL), so the loop does not wait on the disk.

Rows are read with ``pread``, not through the memory map, and the kernel is told to drop their
pages once gathered: pages of the map would stay in the page cache, which a memory limit counts,
and push out the pages of torch's own code instead (under a 1 GiB limit an epoch of a 2.8 GiB
file ran at half the speed, with 4x the major page faults).
"""

from __future__ import annotations

import collections
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterable, Iterator, Optional, Tuple

import numpy as np
import torch

AHEAD = 3  # batches gathered ahead of the one training
# Batches whose rows the kernel is asked to read (madvise WILLNEED) before they are gathered:
# shuffled rows are random reads, each waiting on the disk unless asked for together (2,000
# random 224-pixel rows of a file not in memory: 1,100 a second read one by one, 35,000 asked
# for 8 batches ahead).
ADVISED = 8


def on_file(array) -> bool:
    """Whether ``array`` is pixels read in place from a decoded file."""
    return isinstance(array, np.memmap)


class _Rows:
    """Rows ``rows`` of the uint8 memory map ``source`` (N, C, H, W); all of them by default."""

    def __init__(self, source: np.memmap, rows=None):
        self.source = source
        self.rows = np.arange(len(source)) if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> Tuple[int, ...]:
        return (len(self.rows), *self.source.shape[1:])


class FileRows(_Rows):
    """Rows of a decoded file, standing in for its pixels while the data set is split: indexed
    as an array is (a sub-selection of rows, never read), so the splits, folds and limits of
    data/splits.py and scikit-learn's apply unchanged; build_data then makes each a
    FileImages on the device."""

    @property
    def ndim(self) -> int:
        return self.source.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtype

    def __getitem__(self, index) -> "FileRows":
        if isinstance(index, tuple):  # scikit-learn's array[key, ...]
            index = index[0]
        return FileRows(self.source, np.atleast_1d(self.rows[index]))


class FileImages(_Rows):
    """The rows of a decoded file as a split's x on ``device``: indexing gathers them."""

    def __init__(self, source: np.memmap, rows: Optional[np.ndarray] = None,
                 device: torch.device = torch.device("cpu")):
        super().__init__(source, rows)
        self.device = device
        self._row_bytes = source[0].nbytes if len(source) else 0
        self._ready: Dict[bytes, object] = {}
        self._file = _opened(source)

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8

    def __getitem__(self, index) -> torch.Tensor:
        positions = self._positions(index)
        waiting = self._ready.pop(positions.tobytes(), None)
        if waiting is not None:
            return waiting.result()
        return self._gather(positions)

    def _positions(self, index) -> np.ndarray:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        return np.atleast_1d(self.rows[index])

    def _gather(self, positions: np.ndarray) -> torch.Tensor:
        """The rows, read in the file's order (fewer, longer reads), returned in the asked one."""
        order = np.argsort(positions, kind="stable")
        pixels = _outside_the_heap((len(positions), *self.source.shape[1:]))
        if self._file is None:  # no pread here (Windows): through the map
            pixels[order] = self.source[positions[order]]
        else:
            for slot in order.tolist():
                self._read(int(positions[slot]), pixels[slot])
        return torch.from_numpy(pixels).to(self.device, non_blocking=True)

    def _read(self, position: int, row: np.ndarray) -> None:
        """Row ``position`` of the file into ``row``, then its pages out of the page cache."""
        start = self._offset(position)
        done = 0
        while done < self._row_bytes:
            read = os.preadv(self._file, [row.reshape(-1)[done:]], start + done)
            if read <= 0:
                raise OSError(f"{self.source.filename} ends before its row {position}")
            done += read
        _advise_file(self._file, start, self._row_bytes, "POSIX_FADV_DONTNEED")

    def read_ahead(self, batches: Iterable[torch.Tensor], rank: int = 0,
                   world_size: int = 1) -> Iterator[torch.Tensor]:
        """``batches`` as they are, this process's share of each (``rank``-th of every
        ``world_size``) asked of the kernel ADVISED batches ahead and gathered in a background
        thread AHEAD batches ahead."""
        pending = collections.deque()
        shares = ((batch, self._positions(batch[rank::world_size])) for batch in batches)
        with ThreadPoolExecutor(1, thread_name_prefix="nnrecipes-read-ahead") as reader:
            try:
                for batch, positions in self._advised(shares, reader):
                    self._ready[positions.tobytes()] = reader.submit(self._gather, positions)
                    pending.append(batch)
                    if len(pending) > AHEAD:
                        yield pending.popleft()
                while pending:
                    yield pending.popleft()
            finally:
                self._ready.clear()

    def _advised(self, shares: Iterator, reader: ThreadPoolExecutor) -> Iterator:
        """``shares`` as they are, each ADVISED later than ``reader`` asked the kernel for its
        rows (the asking can wait on the disk's queue: not in the training's thread)."""
        window = collections.deque()
        for share in shares:
            reader.submit(self._advise, share[1])
            window.append(share)
            if len(window) > ADVISED:
                yield window.popleft()
        yield from window

    def _advise(self, positions: np.ndarray) -> None:
        """posix_fadvise(WILLNEED) over each row's bytes: the kernel reads them while we go
        on."""
        if self._file is None:
            return  # gathering reads as it goes
        for position in positions.tolist():
            _advise_file(self._file, self._offset(position), self._row_bytes,
                         "POSIX_FADV_WILLNEED")

    def _offset(self, position: int) -> int:
        """Where row ``position`` begins in the file (after the .npy header)."""
        return self.source.offset + position * self._row_bytes

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def __del__(self):
        self.close()


def _outside_the_heap(shape: Tuple[int, ...]) -> np.ndarray:
    """An uint8 array of ``shape`` in memory of its own (an anonymous map, given back whole
    when the batch is dropped): batches held ahead in malloc's heap would split its free
    memory, and the heap grow past the limit a run may use."""
    return np.frombuffer(mmap.mmap(-1, max(1, int(np.prod(shape)))), np.uint8,
                         int(np.prod(shape))).reshape(shape)


def _opened(source: np.memmap) -> Optional[int]:
    """A descriptor of the file ``source`` maps, to read its rows with pread; None where
    there is no pread or no file name."""
    name = getattr(source, "filename", None)
    if not name or not hasattr(os, "preadv"):
        return None
    return os.open(name, os.O_RDONLY)


def _advise_file(descriptor: int, start: int, length: int, advice: str) -> None:
    """posix_fadvise over whole pages around [start, start + length) (a row's partial pages
    too: its neighbours are read in another batch, if at all), where the system has it."""
    if hasattr(os, "posix_fadvise"):
        aligned = start - start % mmap.PAGESIZE
        os.posix_fadvise(descriptor, aligned, start + length - aligned, getattr(os, advice))


# Pixels summed at a time by channel_statistics: 32 MiB as float64, whatever the picture size.
CHUNK_ELEMENTS = 1 << 22


def channel_statistics(images: np.ndarray, rows: np.ndarray):
    """Each channel's mean and standard deviation over ``rows`` of ``images``, read a chunk at
    a time (float64 sums: exact for any number of pictures, in a few MiB)."""
    channels = images.shape[1]
    per_chunk = max(1, CHUNK_ELEMENTS // int(np.prod(images.shape[1:])))
    total, squares, count = np.zeros(channels), np.zeros(channels), 0
    rows = np.sort(rows)  # the file's order: fewer, longer reads
    for start in range(0, len(rows), per_chunk):
        block = images[rows[start:start + per_chunk]].astype(np.float64)
        total += block.sum(axis=(0, 2, 3))
        np.square(block, out=block)
        squares += block.sum(axis=(0, 2, 3))
        count += block.size // channels
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean ** 2, 0))
