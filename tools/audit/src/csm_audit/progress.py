"""Progress bars on stderr, shown only to a person watching (a terminal, not --quiet)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bars:
    """One bar per named task; callbacks to set a task's total and advance it."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def task(self, name: str) -> tuple[Callable[[int], None], Callable[[int], None]]:
        """(set_total, advance) for a new bar called `name` (no-ops when bars are off)."""
        if self._progress is None:
            return (lambda _n: None), (lambda _n: None)
        progress = self._progress
        task = progress.add_task(name, total=None)
        return (lambda n: progress.update(task, total=n)), (lambda n: progress.advance(task, n))


@contextmanager
def bars(quiet: bool) -> Iterator[Bars]:
    if quiet or not sys.stderr.isatty():
        yield Bars(None)
        return
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as progress:
        yield Bars(progress)
