"""What a person sees while a run goes: a progress bar, one line per epoch, a results table."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Dict, Iterator, Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table


def _interactive() -> bool:
    return sys.stdout.isatty()


def wide_console(width: int) -> Console:
    """A console for wide tables: the terminal's width, or ``width`` when output is a file."""
    return Console(highlight=False, width=None if _interactive() else width)


@contextlib.contextmanager
def epoch_progress(enabled: bool, epoch: int, epochs: int,
                   steps: int) -> Iterator[Optional[Callable[[], None]]]:
    """A transient bar over one epoch's steps; yields the per-step callback, or None if off."""
    if not (enabled and _interactive()):
        yield None
        return
    columns = (TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=True, redirect_stdout=False) as progress:
        task = progress.add_task("train", total=steps)
        yield lambda: progress.advance(task)


@contextlib.contextmanager
def work_progress(title: str, total: int) -> Iterator[Callable[..., None]]:
    """A transient bar over ``total`` items of slow work (decoding images); silent unless output
    is a terminal. Yields the callback that counts items done (``advance(n=1)``)."""
    if not _interactive():
        yield lambda done=1: None
        return
    columns = (TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, redirect_stdout=False) as progress:
        task = progress.add_task("work", total=total)
        yield lambda done=1: progress.advance(task, done)


def metric_text(value: float) -> str:
    """A metric as a person reads it: four decimals, or four significant digits where that
    would run long (the mse of targets in the millions) or show nothing (1e-7)."""
    small = value != 0 and abs(value) < 1e-3
    return f"{value:.4g}" if abs(value) >= 1e6 or small else f"{value:.4f}"


def format_metrics(metrics: Dict[str, float]) -> str:
    return "  ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                     for key, value in metrics.items())


def results_table(title: str, test: Dict[str, float], facts: Dict[str, object]) -> None:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    # A path wider than the terminal wraps onto more lines rather than being cut off.
    table.add_column("value", justify="right", overflow="fold")
    for key, value in test.items():
        table.add_row(f"test {key}", metric_text(value))
    for key, value in facts.items():
        table.add_row(key, escape(str(value)))  # paths and settings, not Rich markup
    Console(highlight=False).print(table)
