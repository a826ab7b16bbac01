"""Python's cyclic garbage collector in an nnrun process: at its start and at its end.

A training process ends up holding about 450,000 objects that live to its end (torch,
torch._dynamo, scikit-learn). With the collector's default thresholds, importing them sets off
about 1,160 young, 105 middle and 7 full collections (1.05-1.14 s of an iris run on 2 cores);
collecting the youngest generation every 50,000 new objects instead of 700 leaves 16, 1 and 0
(0.42-0.50 s). At exit the interpreter's shutdown walks them all again in several full
collections (1.6-1.9 s from an iris run's last file to its exit); one collection, then
``gc.freeze``, which takes what is left out of the collector's view: 0.6-0.7 s.
docs/benchmarks-archive.md has the measurements.
"""

from __future__ import annotations

import atexit
import gc

# New container objects between collections of the youngest generation (Python's default: 700).
# Cyclic garbage still goes, a few steps of a training loop later at most.
YOUNG_THRESHOLD = 50_000

_tuned = False


def _collect_once_then_freeze() -> None:
    # The collection still finalises unreachable cycles (a file's buffer is flushed, as the
    # interpreter's own collections would); the freeze spares the walks after it.
    gc.collect()
    gc.freeze()


def tune_collector() -> None:
    """Once per process, before the heavy imports: collect the youngest generation less often
    (a threshold someone set higher is kept), and at exit collect once and freeze the rest
    (atexit handlers run before the interpreter's own collections)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:  # 0: the collector is off, which is someone's choice
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    atexit.register(_collect_once_then_freeze)
