"""The deadline reminders in PostgreSQL: what the consumers keep of cycles and returns
(`reminder_cycles`, `reminder_returns`), the schedules, and the reminders recorded
(`reminders_recorded`), selected due in one set-based query over every organisation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from csm_kernel.database import Connection

from ..application.ports import NextDue, OffsetCount, Schedule
from ..domain.notification import Intent
from ..domain.reminders import DueReminder

#: Serialises reminder runs across the service's processes: two concurrent multi-row inserts
#: could otherwise deadlock on each other's unique keys, and the loser would only redo work.
_RUN_LOCK = 7_300_410
#: How many organisations `next_due` names for the next reminder (the count is always exact).
_NEXT_LISTED = 100

_SET_TIMETABLE = """
INSERT INTO reminder_cycles (cycle, data_entry_opens, closes_at, timetable_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (cycle) DO UPDATE
    SET data_entry_opens = EXCLUDED.data_entry_opens,
        closes_at = EXCLUDED.closes_at,
        timetable_at = EXCLUDED.timetable_at
    WHERE reminder_cycles.timetable_at IS NULL
       OR reminder_cycles.timetable_at <= EXCLUDED.timetable_at
"""

_SET_EXTENSION = """
INSERT INTO reminder_returns (cycle, organisation_id, extension_until, extension_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (cycle, organisation_id) DO UPDATE
    SET extension_until = EXCLUDED.extension_until,
        extension_at = EXCLUDED.extension_at
    WHERE reminder_returns.extension_at IS NULL
       OR reminder_returns.extension_at <= EXCLUDED.extension_at
"""

_SET_SIGNED_OFF = """
INSERT INTO reminder_returns (cycle, organisation_id, signed_off_at, status_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (cycle, organisation_id) DO UPDATE
    SET signed_off_at = EXCLUDED.signed_off_at,
        status_at = EXCLUDED.status_at
    WHERE reminder_returns.status_at IS NULL
       OR reminder_returns.status_at <= EXCLUDED.status_at
"""


class PostgresReminderState:
    """`application.ports.ReminderState`: written in the consumer's transaction."""

    async def set_timetable(
        self, conn: Connection, cycle: str, opens: datetime, closes: datetime, at: datetime
    ) -> None:
        # Only the timetable columns: a schedule the national team set first is kept.
        await conn.execute(_SET_TIMETABLE, cycle, opens, closes, at)

    async def set_extension(
        self, conn: Connection, cycle: str, organisation_id: str, until: datetime, at: datetime
    ) -> None:
        # The latest extension is the one that counts (as in the questionnaire service), even
        # if it is shorter than an earlier one.
        await conn.execute(_SET_EXTENSION, cycle, organisation_id, until, at)

    async def set_signed_off(
        self,
        conn: Connection,
        cycle: str,
        organisation_id: str,
        signed_off_at: datetime | None,
        at: datetime,
    ) -> None:
        # A return's events share one stream and one Kafka key, so they arrive in order; the
        # guard only keeps an older event, delivered late by some other route, from winning.
        await conn.execute(_SET_SIGNED_OFF, cycle, organisation_id, signed_off_at, at)


#: Every return that still owes a reminder-worthy sign-off at $1 (now): data entry open, a
#: lead to write to, not signed off, before its own close (`domain.reminders.close_of`). `$2`
#: narrows it to one cycle.
_OPEN_RETURNS = """
SELECT c.cycle, c.days_before, o.code AS organisation_id, o.name AS organisation_name,
       l.email, l.name AS lead_name,
       GREATEST(c.closes_at, r.extension_until) AS closes_at,
       COALESCE(r.extension_until > c.closes_at, false) AS extended
FROM reminder_cycles c
CROSS JOIN organisations o
JOIN leads l ON l.organisation_id = o.code
LEFT JOIN reminder_returns r ON r.cycle = c.cycle AND r.organisation_id = o.code
WHERE c.closes_at IS NOT NULL
  AND c.data_entry_opens <= $1
  AND r.signed_off_at IS NULL
  AND GREATEST(c.closes_at, r.extension_until) > $1
  AND ($2::text IS NULL OR c.cycle = $2)
"""

#: Per open return, the nearest offset already due (`domain.reminders.nearest_due`: the
#: smallest d with close - d <= now), if it has not been recorded yet against this close. Days
#: are 24 hours, as in Python.
_DUE = f"""
WITH open_returns AS ({_OPEN_RETURNS}),
nearest AS (
    SELECT o.*,
           (SELECT min(d) FROM unnest(o.days_before) AS d
            WHERE o.closes_at - d * interval '24 hours' <= $1) AS due_days_before
    FROM open_returns o
)
SELECT n.cycle, n.organisation_id, n.organisation_name, n.email, n.lead_name, n.closes_at,
       n.extended, n.due_days_before
FROM nearest n
WHERE n.due_days_before IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM reminders_recorded rr
      WHERE rr.cycle = n.cycle AND rr.organisation_id = n.organisation_id
        AND rr.days_before = n.due_days_before AND rr.closes_at = n.closes_at)
"""

_MARK_RECORDED = """
INSERT INTO reminders_recorded (cycle, organisation_id, days_before, closes_at, recipient,
                                notification_id, recorded_at)
SELECT *, $7::timestamptz
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::text[])
ON CONFLICT DO NOTHING
"""

_SET_SCHEDULE = """
INSERT INTO reminder_cycles (cycle, days_before, schedule_set_by, schedule_set_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (cycle) DO UPDATE
    SET days_before = EXCLUDED.days_before,
        schedule_set_by = EXCLUDED.schedule_set_by,
        schedule_set_at = EXCLUDED.schedule_set_at
"""

_RECORDED = """
SELECT rr.days_before, count(*) AS recorded,
       count(*) FILTER (WHERE n.status = 'sent') AS sent,
       count(*) FILTER (WHERE n.status = 'failed') AS failed
FROM reminders_recorded rr
LEFT JOIN notifications n ON n.id = rr.notification_id
WHERE rr.cycle = $1
GROUP BY rr.days_before
"""

#: Per open return, when its next reminder is due: the nearest due offset if it is not yet
#: recorded (the next run records it), else the next offset still ahead. Then the earliest of
#: those moments and the organisations due at it.
_NEXT = f"""
WITH open_returns AS ({_OPEN_RETURNS}),
offsets AS (
    SELECT o.organisation_id, o.organisation_name, o.closes_at, d AS days_before,
           o.closes_at - d * interval '24 hours' AS due_at
    FROM open_returns o, unnest(o.days_before) AS d
),
nearest_due AS (
    SELECT DISTINCT ON (organisation_id) *
    FROM offsets WHERE due_at <= $1
    ORDER BY organisation_id, days_before
),
pending AS (
    -- Due now: the next run records it, whenever its offset's moment was.
    SELECT nd.organisation_id, nd.organisation_name, nd.closes_at, nd.days_before,
           $1::timestamptz AS due_at
    FROM nearest_due nd
    WHERE NOT EXISTS (
        SELECT 1 FROM reminders_recorded rr
        WHERE rr.cycle = $2 AND rr.organisation_id = nd.organisation_id
          AND rr.days_before = nd.days_before AND rr.closes_at = nd.closes_at)
),
upcoming AS (
    SELECT DISTINCT ON (organisation_id) *
    FROM offsets WHERE due_at > $1
    ORDER BY organisation_id, due_at
),
per_return AS (
    SELECT * FROM pending
    UNION ALL
    SELECT u.* FROM upcoming u
    WHERE NOT EXISTS (SELECT 1 FROM pending p WHERE p.organisation_id = u.organisation_id)
),
earliest AS (SELECT min(due_at) AS due_at FROM per_return)
SELECT p.organisation_id, p.organisation_name, p.days_before, p.due_at, p.closes_at,
       count(*) OVER () AS total
FROM per_return p JOIN earliest e ON p.due_at = e.due_at
ORDER BY p.organisation_id
LIMIT {_NEXT_LISTED}
"""


class PostgresReminders:
    """`application.ports.ReminderStore` in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def reminder_run(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _RUN_LOCK)
            yield conn

    async def due(self, conn: Connection, now: datetime) -> list[DueReminder]:
        rows = await conn.fetch(_DUE, now, None)
        return [
            DueReminder(
                cycle=r["cycle"],
                organisation_id=r["organisation_id"],
                organisation_name=r["organisation_name"],
                email=r["email"],
                lead_name=r["lead_name"],
                closes_at=r["closes_at"],
                extended=r["extended"],
                days_before=r["due_days_before"],
            )
            for r in rows
        ]

    async def mark_recorded(
        self, conn: Connection, recorded: Sequence[tuple[DueReminder, Intent]], now: datetime
    ) -> None:
        await conn.execute(
            _MARK_RECORDED,
            [d.cycle for d, _ in recorded],
            [d.organisation_id for d, _ in recorded],
            [d.days_before for d, _ in recorded],
            [d.closes_at for d, _ in recorded],
            [i.recipient for _, i in recorded],
            [i.id for _, i in recorded],
            now,
        )

    async def set_schedule(
        self, cycle: str, days_before: Sequence[int], actor: str, at: datetime
    ) -> None:
        await self._pool.execute(_SET_SCHEDULE, cycle, list(days_before), actor, at)

    async def schedule(self, cycle: str) -> Schedule | None:
        row = await self._pool.fetchrow("SELECT * FROM reminder_cycles WHERE cycle = $1", cycle)
        if row is None:
            return None
        return Schedule(
            cycle=cycle,
            days_before=list(row["days_before"]),
            closes_at=row["closes_at"],
            data_entry_opens=row["data_entry_opens"],
            set_by=row["schedule_set_by"],
            set_at=row["schedule_set_at"],
        )

    async def recorded(self, cycle: str) -> list[OffsetCount]:
        rows = await self._pool.fetch(_RECORDED, cycle)
        return [OffsetCount(r["days_before"], r["recorded"], r["sent"], r["failed"]) for r in rows]

    async def next_due(self, cycle: str, now: datetime) -> list[NextDue]:
        rows = await self._pool.fetch(_NEXT, now, cycle)
        return [
            NextDue(
                organisation_id=r["organisation_id"],
                organisation_name=r["organisation_name"],
                days_before=r["days_before"],
                due_at=r["due_at"],
                closes_at=r["closes_at"],
                total=r["total"],
            )
            for r in rows
        ]
