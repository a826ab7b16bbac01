"""SIGINT and SIGTERM as requests to stop, so an interrupted run leaves a resumable folder.

A cluster scheduler sends SIGTERM before it kills a job; Ctrl-C sends SIGINT. Either one asks the
training loop to stop after its current step; a second one stops at once.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Callable, Iterator, List, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """Training stopped on a signal; the run's last.pt holds its last complete epoch."""

    run_status = "interrupted"

    def __init__(self, signal_number: int, message: str):
        super().__init__(message)
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number  # what a shell reports for a death by this signal


@contextlib.contextmanager
def stop_requests() -> Iterator[Callable[[], Optional[int]]]:
    """Within the block, the first SIGINT or SIGTERM is recorded instead of killing the process.

    Yields a function that returns the signal received so far, or None.
    """
    received: List[int] = []

    def request_stop(signal_number, frame):
        if received:
            raise KeyboardInterrupt  # asked twice: stop now
        received.append(signal_number)

    previous = {}
    try:
        for number in SIGNALS:
            previous[number] = signal.signal(number, request_stop)
    except ValueError:  # not the main thread (some launchers): leave signals alone
        pass
    try:
        yield lambda: received[0] if received else None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
