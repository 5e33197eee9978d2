"""A progress bar for long operator commands (`verify`, rebuilds), on standard error.

Drawn only when standard error is a terminal, and redrawn at most ten times a second; `clear`
wipes it before anything else is printed (a log line), `close` ends it with its final count.
Piped or redirected, it prints nothing (the command's own summary line says the totals).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Below this many items a bar is not worth drawing.
SHOW_FROM = 5_000


class Progress:
    """Progress towards `total` (an estimate is fine: the bar stops at 100 %)."""

    def __init__(
        self,
        what: str,
        total: int,
        *,
        stream: TextIO | None = None,
        force: bool = False,
        width: int = 30,
    ) -> None:
        self.what = what
        self.total = max(total, 0)
        self.stream = stream or sys.stderr
        self.enabled = force or (self.total >= SHOW_FROM and self.stream.isatty())
        self.width = width
        self.done = 0
        self._started = time.monotonic()
        self._drawn = 0.0

    def update(self, done: int) -> None:
        """`done` of the total are done now."""
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn >= 0.1 or done >= self.total:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        share = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(share * self.width)
        rate = self.done / max(now - self._started, 1e-9)
        self.stream.write(
            f"\r{self.what} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{share:4.0%} {self.done:,}/{self.total:,} ({rate:,.0f}/s)"
        )
        self.stream.flush()

    def clear(self) -> None:
        """Wipe the bar's line (to print something else); the next update draws it again."""
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
