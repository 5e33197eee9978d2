"""Rebuilding from the full history: refill a lost journal (from the broker or the services'
event stores), then rebuild projections from it beside the live ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from .journalling import SOURCES
from .ports import HistoryBatch, HistorySources, Journal, Projections
from .projection import Progress


class UnknownProjections(Exception):
    """Projections were asked for by names no projection has."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"unknown projection(s): {', '.join(sorted(names))}")
        self.names = sorted(names)


class Rebuilding:
    """What `csm-reporting-rebuild` does."""

    def __init__(self, journal: Journal, projections: Projections, history: HistorySources) -> None:
        self.journal = journal
        self.projections = projections
        self.history = history

    async def refill_from_broker(
        self, bootstrap: str, progress: Callable[[HistoryBatch], None]
    ) -> int:
        """Journal every source topic from offset 0 to its current end; how many were new."""
        return await self._refill(self.history.broker(bootstrap, SOURCES), progress)

    async def refill_from_store(self, url: str, progress: Callable[[HistoryBatch], None]) -> int:
        """Journal every event of one service's event store; how many were new."""
        return await self._refill(self.history.store(url), progress)

    async def _refill(
        self, batches: AsyncIterator[HistoryBatch], progress: Callable[[HistoryBatch], None]
    ) -> int:
        added = 0
        async for batch in batches:
            added += await self.journal.load(batch.envelopes)
            progress(batch)
        return added

    def wanted(self, names: Sequence[str] | None) -> list[str]:
        """The projections called `names` (all when none are named), in the projector's
        order; `UnknownProjections` if a name is nobody's."""
        known = self.projections.projections
        unknown = set(names or ()) - set(known)
        if unknown:
            raise UnknownProjections(sorted(unknown))
        return [name for name in known if not names or name in names]

    async def rebuild(
        self, names: Sequence[str], progress: Callable[[Progress], None], *, parallel: int
    ) -> list[Progress]:
        """Rebuild the projections called `names` (see `wanted`), `parallel` at a time."""
        await self.projections.prepare()
        known = self.projections.projections
        return await self.projections.rebuild_all(
            [known[name] for name in names], progress, parallel=parallel
        )
