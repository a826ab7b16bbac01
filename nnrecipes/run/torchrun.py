"""Which process of a torchrun job this is, read from the variables torchrun sets; no torch here,
so the command line can ask before torch is imported."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Optional


def tell_torchrun(message: str) -> None:
    """Under torchrun, put this process's one-line error where torchrun reads a failed
    process's error (TORCHELASTIC_ERROR_FILE): its failure report then shows the line as the
    root cause, instead of a link to its docs below its own traceback."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path or torchrun_rank() is None:
        return
    import json
    import time

    try:
        Path(path).write_text(json.dumps({"message": message,
                                          "timestamp": str(int(time.time()))}))
    except OSError:  # torchrun's own folder gone: its report is all there is
        pass


def torchrun_rank() -> Optional[int]:
    """This process's rank under torchrun (or another launcher that sets the same); None alone."""
    return int(os.environ["RANK"]) if "RANK" in os.environ and "WORLD_SIZE" in os.environ else None


_alone = False  # set while rank 0 runs a mode of its own (alone_in_rank_zero)


@contextlib.contextmanager
def alone_in_rank_zero() -> Iterator[None]:
    """Within it, rank 0 of a torchrun job runs as a single process would: no process group,
    no DDP (a mode with no training to share; the other ranks have ended)."""
    global _alone
    _alone = True
    try:
        yield
    finally:
        _alone = False


def launched() -> bool:
    """Whether this process trains as one of torchrun's ranks (started by torchrun, or another
    launcher that sets the same, and not alone_in_rank_zero)."""
    return torchrun_rank() is not None and not _alone
