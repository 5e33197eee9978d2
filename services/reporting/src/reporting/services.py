"""The reporting service's parts, built once the runtime has its pool: projector, runner,
the report catalogue, and the cycle look-up the HTTP layer checks requests against."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from csm_kernel.observability import get_logger

from .adapters.projections import PROJECTIONS
from .adapters.projector import AlreadyRebuilding, Projector
from .adapters.reports import REPORTS
from .adapters.runner import ReportRunner
from .application.projection import Projection
from .application.reports import Reports

log = get_logger(__name__)


class Services:
    """What the endpoints and the background loop use."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        projections: Sequence[Projection] = PROJECTIONS,
        reports: Reports = REPORTS,
        *,
        batch: int = 5_000,
        idle_seconds: float = 0.5,
    ) -> None:
        self.pool = pool
        self.projector = Projector(pool, projections, batch=batch, idle_seconds=idle_seconds)
        self.runner = ReportRunner(pool, projections)
        self.reports = reports
        self._tasks: set[asyncio.Task[None]] = set()
        self._known_cycles: set[str] = set()

    async def cycle_known(self, cycle: str) -> bool:
        """Has `cycle` been scheduled? Remembered once it has (the journal only grows), so a
        live report does not look the timetable up on every request."""
        if cycle in self._known_cycles:
            return True
        if await self.cycle_began(cycle) is None:
            return False
        self._known_cycles.add(cycle)
        return True

    async def cycle_began(self, cycle: str) -> datetime | None:
        """When a cycle began (its sandbox opening, as last timetabled), None if unknown."""
        return await self._timetabled(cycle, "sandbox_opens")

    async def _timetabled(self, cycle: str, field: str) -> datetime | None:
        """One date of a cycle's latest timetable, None if the cycle is unknown."""
        text = await self.pool.fetchval(
            """
            SELECT coalesce(data->'new_timetable', data->'timetable')->>$2
              FROM journal
             WHERE type IN ('questionnaire.CycleScheduled', 'questionnaire.CycleTimetableChanged')
               AND data->>'cycle' = $1
             ORDER BY seq DESC LIMIT 1
            """,
            cycle,
            field,
        )
        return datetime.fromisoformat(text) if text else None

    async def rebuilds_done(self) -> None:
        """Wait for the rebuilds started over HTTP (tests, and a clean shutdown)."""
        await asyncio.gather(*self._tasks)

    async def moment(self, cycle: str, name: str, organisation: str | None) -> datetime | None:
        """A named moment of a cycle: `summary-reports` or `close` (from its latest timetable),
        or `sign-off` (the organisation's latest sign-off in it). None if it has not happened."""
        if name == "sign-off":
            value = await self.pool.fetchval(
                "SELECT max((data->>'signed_off_at')::timestamptz) FROM journal"
                " WHERE type = 'questionnaire.CycleSignedOff' AND key = $1"
                " AND data->>'cycle' = $2",
                organisation,
                cycle,
            )
            return value if isinstance(value, datetime) else None
        field = {"summary-reports": "summary_reports", "close": "data_entry_closes"}[name]
        return await self._timetabled(cycle, field)

    def start_rebuild(self, names: Sequence[str]) -> None:
        """Rebuild projections in the background, two at a time."""

        async def run() -> None:
            try:
                await self.projector.rebuild_all([self.projector.projections[n] for n in names])
            except AlreadyRebuilding as exc:
                log.info("already being rebuilt elsewhere", projection=str(exc))

        task = asyncio.create_task(run(), name="reporting-rebuild")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
