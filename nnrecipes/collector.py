"""Python's cyclic garbage collector at the end of an nnrun process.

A training process holds about 450,000 objects that live to its end (torch, torch._dynamo,
scikit-learn), and the interpreter's shutdown walks them in several full collections: an iris
run took 1.6-1.9 s on 2 cores from its last file to its exit, and a parallel sweep waits for its
workers' too (docs/benchmarks.md). One collection, then ``gc.freeze``, which takes what is left
out of the collector's view: 0.6-0.7 s.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def _collect_once_then_freeze() -> None:
    # The collection still finalises unreachable cycles (a file's buffer is flushed, as the
    # interpreter's own collections would); the freeze spares the walks after it.
    gc.collect()
    gc.freeze()


def shorten_exit() -> None:
    """Once per process: at exit, collect once and freeze the rest (atexit handlers run before
    the interpreter's own collections)."""
    global _registered
    if not _registered:
        _registered = True
        atexit.register(_collect_once_then_freeze)
