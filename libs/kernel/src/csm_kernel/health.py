"""Is every background loop of a service alive and making progress?

Each loop (the relay, each consumer, the sender, the schedulers, the projector) owns a
`LoopMonitor`: it beats after every pass that worked, reports a pass that failed, and the
kernel's supervisor reports a crash. A loop is *unhealthy* when it has crashed and not yet
been restarted, crashes again and again, or has not finished a pass (good or bad) for longer
than its stall limit (it hangs). `/health/ready`, `/health/live` and `/status` read the
monitors, so a dead loop never hides behind a green health check (DESIGN section 5).

A loop that keeps failing because the database or the broker is away is *not* unhealthy: it is
alive and will resume by itself; its monitor says since when it fails and why, and when it
recovers it logs how long the outage lasted (`recovered_after_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .observability import get_logger

log = get_logger(__name__)

#: A loop that crashed this many times within `CRASH_WINDOW_SECONDS` is reported unhealthy
#: even while it is running again: restarting it in-process is not curing it.
CRASH_LIMIT = 3
CRASH_WINDOW_SECONDS = 300.0


@dataclass
class LoopMonitor:
    """What one background loop last did, for health checks and `/status`."""

    name: str
    #: Seconds without a finished pass after which the loop counts as hung.
    stall_after: float = 120.0
    clock: Callable[[], float] = time.monotonic
    started_at: float = field(default=0.0)
    last_beat: float = field(default=0.0)
    failing_since: float | None = None
    last_error: str | None = None
    failures: int = 0
    #: False only between a crash and its restart (and once stopped).
    running: bool = True
    crashes: deque[float] = field(default_factory=lambda: deque(maxlen=CRASH_LIMIT))
    #: How long each outage this loop rode out lasted, in seconds (newest last).
    recoveries: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        now = self.clock()
        self.started_at = self.started_at or now
        self.last_beat = self.last_beat or now

    def beat(self) -> None:
        """A pass worked (or there was nothing to do)."""
        now = self.clock()
        self.last_beat = now
        if self.failing_since is not None:
            outage = now - self.failing_since
            self.recoveries.append(round(outage, 3))
            del self.recoveries[:-20]
            log.info(
                "loop recovered",
                loop=self.name,
                recovered_after_seconds=round(outage, 3),
                failures=self.failures,
            )
            self.failing_since = None
            self.failures = 0

    def failed(self, error: BaseException | str) -> None:
        """A pass failed and the loop will try again (it is alive)."""
        now = self.clock()
        self.last_beat = now
        if self.failing_since is None:
            self.failing_since = now
        self.failures += 1
        self.last_error = error if isinstance(error, str) else _describe(error)

    def crashed(self, error: BaseException) -> None:
        """The loop's task ended with an exception; the supervisor restarts it."""
        self.running = False
        self.crashes.append(self.clock())
        self.failed(error)

    def problem(self) -> str | None:
        """Why this loop is unhealthy, or None when it is fine."""
        now = self.clock()
        if not self.running:
            return f"{self.name}: not running ({self.last_error or 'stopped'})"
        recent = [t for t in self.crashes if now - t < CRASH_WINDOW_SECONDS]
        if len(recent) >= CRASH_LIMIT:
            return f"{self.name}: crashed {len(recent)} times in {CRASH_WINDOW_SECONDS:.0f} s"
        if now - self.last_beat > self.stall_after:
            return f"{self.name}: no progress for {now - self.last_beat:.0f} s"
        return None

    def status(self) -> dict[str, Any]:
        """The monitor as JSON for `/status`."""
        now = self.clock()
        return {
            "running": self.running,
            "healthy": self.problem() is None,
            "seconds_since_progress": round(now - self.last_beat, 3),
            "failing_for_seconds": (
                None if self.failing_since is None else round(now - self.failing_since, 3)
            ),
            "failures": self.failures,
            "last_error": self.last_error,
            "crashes_recently": sum(1 for t in self.crashes if now - t < CRASH_WINDOW_SECONDS),
            "recoveries_seconds": list(self.recoveries),
        }


class LoopRegistry:
    """Every loop monitor of one process."""

    def __init__(self) -> None:
        self._monitors: dict[str, LoopMonitor] = {}

    def monitor(self, name: str, *, stall_after: float = 120.0) -> LoopMonitor:
        """The monitor called `name`, made on first use."""
        found = self._monitors.get(name)
        if found is None:
            found = self._monitors[name] = LoopMonitor(name, stall_after=stall_after)
        return found

    def monitors(self) -> dict[str, LoopMonitor]:
        """Every monitor, by name."""
        return dict(self._monitors)

    def problems(self) -> list[str]:
        """Why each unhealthy loop is unhealthy (empty when all are fine)."""
        return [p for m in self._monitors.values() if (p := m.problem()) is not None]

    def status(self) -> dict[str, dict[str, Any]]:
        """Every monitor as JSON, by name."""
        return {name: m.status() for name, m in sorted(self._monitors.items())}


async def supervise(
    monitor: LoopMonitor,
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    max_delay: float = 30.0,
) -> None:
    """Run a loop until `stop` is set, restarting it (after a growing pause) whenever it ends
    early, by an exception or by returning. A loop must never die for good in silence."""
    delay = 0.5
    while not stop.is_set():
        monitor.running = True
        try:
            await run()
            if stop.is_set():
                break
            raise RuntimeError("the loop returned before it was asked to stop")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            monitor.crashed(exc)
            log.error(
                "background loop crashed; restarting it",
                loop=monitor.name,
                error=_describe(exc),
                restart_in_seconds=delay,
                exc_info=True,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, max_delay)
    monitor.running = False
    monitor.last_error = "stopped"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__
