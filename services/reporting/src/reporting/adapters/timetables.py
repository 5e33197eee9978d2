"""The cycles' timetables and sign-offs, read from the journal (`application.ports.Timetables`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ..application.ports import JournalMoment

_TIMETABLED = """
SELECT coalesce(data->'new_timetable', data->'timetable')->>$2
  FROM journal
 WHERE type IN ('questionnaire.CycleScheduled', 'questionnaire.CycleTimetableChanged')
   AND data->>'cycle' = $1
 ORDER BY seq DESC LIMIT 1
"""

_PHASE_REACHED = """
SELECT seq, occurred_at
  FROM journal
 WHERE type = 'questionnaire.CyclePhaseChanged' AND data->>'cycle' = $1 AND data->>'phase' = $2
 ORDER BY seq DESC LIMIT 1
"""

_SIGNED_OFF = """
SELECT seq, occurred_at
  FROM journal
 WHERE type = 'questionnaire.CycleSignedOff' AND key = $1 AND data->>'cycle' = $2
 ORDER BY seq DESC LIMIT 1
"""


class JournalTimetables:
    """Cycle dates as the latest `CycleScheduled` or `CycleTimetableChanged` says them; phase
    changes and sign-offs as the journal positions of their `CyclePhaseChanged` and
    `CycleSignedOff` events (the `journal_type` index finds them)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def timetabled(self, cycle: str, field: str) -> datetime | None:
        """One date of a cycle's latest timetable, None if the cycle is unknown."""
        text = await self.pool.fetchval(_TIMETABLED, cycle, field)
        return datetime.fromisoformat(text) if text else None

    async def phase_reached(self, cycle: str, phase: str) -> JournalMoment | None:
        """The latest phase change of the cycle into `phase`, None if there is none."""
        return _moment(await self.pool.fetchrow(_PHASE_REACHED, cycle, phase))

    async def signed_off(self, cycle: str, organisation: str | None) -> JournalMoment | None:
        """The organisation's latest sign-off in the cycle, None if there is none."""
        return _moment(await self.pool.fetchrow(_SIGNED_OFF, organisation, cycle))


def _moment(row: asyncpg.Record | None) -> JournalMoment | None:
    return JournalMoment(int(row["seq"]), row["occurred_at"]) if row is not None else None
