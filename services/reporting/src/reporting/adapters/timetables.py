"""The cycles' timetables and sign-offs, read from the journal (`application.ports.Timetables`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

_TIMETABLED = """
SELECT coalesce(data->'new_timetable', data->'timetable')->>$2
  FROM journal
 WHERE type IN ('questionnaire.CycleScheduled', 'questionnaire.CycleTimetableChanged')
   AND data->>'cycle' = $1
 ORDER BY seq DESC LIMIT 1
"""

_SIGNED_OFF = (
    "SELECT max((data->>'signed_off_at')::timestamptz) FROM journal"
    " WHERE type = 'questionnaire.CycleSignedOff' AND key = $1"
    " AND data->>'cycle' = $2"
)


class JournalTimetables:
    """Cycle dates as the latest `CycleScheduled` or `CycleTimetableChanged` says them, and
    sign-offs as `CycleSignedOff` records them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def timetabled(self, cycle: str, field: str) -> datetime | None:
        """One date of a cycle's latest timetable, None if the cycle is unknown."""
        text = await self.pool.fetchval(_TIMETABLED, cycle, field)
        return datetime.fromisoformat(text) if text else None

    async def signed_off(self, cycle: str, organisation: str | None) -> datetime | None:
        """The organisation's latest sign-off in the cycle, None if there is none."""
        value = await self.pool.fetchval(_SIGNED_OFF, organisation, cycle)
        return value if isinstance(value, datetime) else None
