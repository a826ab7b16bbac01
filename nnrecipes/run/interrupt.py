"""SIGINT and SIGTERM as requests to stop, so an interrupted run leaves a resumable folder.

A cluster scheduler sends SIGTERM before it kills a job (SLURM through submitit sends SIGUSR2 ahead
of the time limit); Ctrl-C sends SIGINT. Any of them asks the training loop to stop after its
current step; a second one stops at once. ``pass_on`` then hands the signal to whoever handled it
before the run (submitit's handler requeues the job), once the run's files are safe.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Callable, Iterator, List, Optional

from nnrecipes.core.run_status import RunEnded, RunStatus

# SIGUSR2 is what SLURM sends ahead of a job's time limit through submitit (--signal=USR2@delay).
SIGNALS = (signal.SIGINT, signal.SIGTERM, *([signal.SIGUSR2] if hasattr(signal, "SIGUSR2") else []))


class Interrupted(RunEnded):
    """Training stopped on a signal; the run's last.pt holds its last complete epoch."""

    status = RunStatus.interrupted

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


def pass_on(signal_number: int) -> None:
    """Call the handler a launcher installed for this signal (submitit: requeue the job).

    Python's own handlers are left alone: the caller exits with 128 + the signal's number.
    """
    handler = signal.getsignal(signal_number)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal_number, None)
