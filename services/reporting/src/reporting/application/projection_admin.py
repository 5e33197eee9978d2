"""Watching and rebuilding the projections while the service runs: their lag, and rebuilds
asked for over HTTP (run in the background, beside the live tables)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from csm_kernel.errors import Conflict, NotFound
from csm_kernel.observability import get_logger

from .ports import Projections
from .projection import AlreadyRebuilding, Lag, Progress

log = get_logger(__name__)


class ProjectionAdmin:
    """The projections' status, and rebuilds started on request."""

    def __init__(self, projections: Projections) -> None:
        self.projections = projections
        self._tasks: set[asyncio.Task[None]] = set()

    async def lags(self) -> list[Lag]:
        """Every projection's lag behind the journal."""
        return await self.projections.lags()

    def progress(self, projection: str) -> Progress | None:
        """The latest progress of a rebuild of `projection` this process ran or runs."""
        return self.projections.progress.get(projection)

    def rebuild(self, name: str) -> list[str]:
        """Start rebuilding one projection (or `all`) in the background; the names of those
        being rebuilt. NotFound for a projection nobody has, Conflict for one already being
        rebuilt here."""
        known = self.projections.projections
        names = list(known) if name == "all" else [name]
        for n in names:
            if n not in known:
                raise NotFound(f"no projection called {n!r}")
            if n in self.projections.rebuilding:
                raise Conflict(f"{n} is already being rebuilt")
        self._start(names)
        return names

    def _start(self, names: Sequence[str]) -> None:
        """Rebuild projections in the background, as many at a time as the projector does."""

        async def run() -> None:
            try:
                known = self.projections.projections
                await self.projections.rebuild_all([known[n] for n in names])
            except AlreadyRebuilding as exc:
                log.info("already being rebuilt elsewhere", projection=str(exc))

        task = asyncio.create_task(run(), name="reporting-rebuild")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def rebuilds_done(self) -> None:
        """Wait for the rebuilds started here (tests, and a clean shutdown)."""
        await asyncio.gather(*self._tasks)
