"""Deadline reminders: emails to the mapping leads of organisations whose return is not yet
signed off, on a schedule of days before the close that the national team sets per cycle.

What it knows comes from the questionnaire service's events (`HANDLERS`, applied in the
consumer's transaction): each cycle's close (`CycleScheduled`, `CycleTimetableChanged`), each
return's extension (`ExtensionGranted`) and whether it is signed off (`CycleSignedOff`, undone
by `ReturnReopened`). `Reminders.run_due` then records, in one set-based pass, the reminders
due now:

- an organisation's close is the cycle's `data_entry_closes`, or its extension if later;
- the reminder for offset `d` is due from close - d days, and only before the close;
- when several offsets are due at once (the service was down, the cycle was scheduled late)
  only the nearest (the smallest due `d`) is recorded: never a burst of stale reminders;
- each is recorded once per (cycle, organisation, offset, close): run twice, nothing doubles;
  an extension moves the close, and reminders count down to the new date.

Which organisations owe a return: every registered organisation (table `organisations`) with a
lead. There is no finer signal in the events yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.cycles import (
    CycleScheduled,
    CycleTimetableChanged,
    ExtensionGranted,
    ReturnReopened,
)
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_kernel.clock import Clock
from csm_kernel.consumer import Handler
from csm_kernel.database import Connection
from csm_kernel.errors import InvalidInput, NotFound
from csm_kernel.health import LoopMonitor
from csm_kernel.observability import get_logger

from ..domain.notification import Intent, Kind
from .intents import record

log = get_logger(__name__)

DEFAULT_DAYS_BEFORE: tuple[int, ...] = (28, 14, 7, 1)
MAX_OFFSETS = 10
MAX_DAYS_BEFORE = 120
#: Serialises reminder runs across the service's processes: two concurrent multi-row inserts
#: could otherwise deadlock on each other's unique keys, and the loser would only redo work.
_RUN_LOCK = 7_300_410
#: How many organisations `status` names for the next reminder (the count is always exact).
_NEXT_LISTED = 100

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _uk_zone() -> tzinfo:
    # Deadlines are read in England; an image without time-zone data still says UTC honestly.
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:  # pragma: no cover - depends on the host's tz database
        return UTC


_UK = _uk_zone()


def human_time(at: datetime) -> str:
    """`28 February 2010, 23:59` in UK time (independent of the process's locale)."""
    local = at.astimezone(_UK)
    suffix = " UTC" if _UK is UTC else ""
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}{suffix}"


def days_left(close: datetime, now: datetime) -> int:
    """Whole days still to go, rounded up (a reminder 23 h before the close says 1 day)."""
    return max(1, math.ceil((close - now) / timedelta(days=1)))


def validate_schedule(days_before: Sequence[int]) -> list[int]:
    """The schedule, largest offset first; `InvalidInput` naming `days_before` otherwise."""
    if not 1 <= len(days_before) <= MAX_OFFSETS:
        raise InvalidInput.field("days_before", f"give between 1 and {MAX_OFFSETS} offsets")
    for d in days_before:
        # bool is an int in Python; a JSON true is not a number of days.
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_DAYS_BEFORE:
            raise InvalidInput.field(
                "days_before", f"each offset is a whole number of days from 1 to {MAX_DAYS_BEFORE}"
            )
    if len(set(days_before)) != len(days_before):
        raise InvalidInput.field("days_before", "offsets must be distinct")
    return sorted(days_before, reverse=True)


# --- consumer handlers (the consumer's transaction) ------------------------------------------


async def on_cycle_scheduled(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, CycleScheduled)
    await _set_timetable(conn, event.cycle, event.timetable, envelope.occurred_at)


async def on_timetable_changed(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, CycleTimetableChanged)
    await _set_timetable(conn, event.cycle, event.new_timetable, envelope.occurred_at)


async def _set_timetable(conn: Connection, cycle: str, timetable: Any, at: datetime) -> None:
    # Only the timetable columns: a schedule the national team set first is kept.
    await conn.execute(
        """
        INSERT INTO reminder_cycles (cycle, data_entry_opens, closes_at, timetable_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (cycle) DO UPDATE
            SET data_entry_opens = EXCLUDED.data_entry_opens,
                closes_at = EXCLUDED.closes_at,
                timetable_at = EXCLUDED.timetable_at
            WHERE reminder_cycles.timetable_at IS NULL
               OR reminder_cycles.timetable_at <= EXCLUDED.timetable_at
        """,
        cycle,
        timetable.data_entry_opens,
        timetable.data_entry_closes,
        at,
    )


async def on_extension_granted(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, ExtensionGranted)
    # The latest extension is the one that counts (as in the questionnaire service), even if
    # it is shorter than an earlier one.
    await conn.execute(
        """
        INSERT INTO reminder_returns (cycle, organisation_id, extension_until, extension_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (cycle, organisation_id) DO UPDATE
            SET extension_until = EXCLUDED.extension_until,
                extension_at = EXCLUDED.extension_at
            WHERE reminder_returns.extension_at IS NULL
               OR reminder_returns.extension_at <= EXCLUDED.extension_at
        """,
        event.cycle,
        event.organisation_id,
        event.until,
        envelope.occurred_at,
    )


async def on_signed_off(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, CycleSignedOff)
    await _set_signed_off(conn, event.cycle, event.organisation_id, event.signed_off_at, envelope)


async def on_reopened(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
    assert isinstance(event, ReturnReopened)
    await _set_signed_off(conn, event.cycle, event.organisation_id, None, envelope)


async def _set_signed_off(
    conn: Connection,
    cycle: str,
    organisation_id: str,
    signed_off_at: datetime | None,
    envelope: EventEnvelope,
) -> None:
    # A return's events share one stream and one Kafka key, so they arrive in order; the
    # guard only keeps an older event, delivered late by some other route, from winning.
    await conn.execute(
        """
        INSERT INTO reminder_returns (cycle, organisation_id, signed_off_at, status_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (cycle, organisation_id) DO UPDATE
            SET signed_off_at = EXCLUDED.signed_off_at,
                status_at = EXCLUDED.status_at
            WHERE reminder_returns.status_at IS NULL
               OR reminder_returns.status_at <= EXCLUDED.status_at
        """,
        cycle,
        organisation_id,
        signed_off_at,
        envelope.occurred_at,
    )


#: Consumer handlers by event type (topic `questionnaire`). `CycleSignedOff` and
#: `ReturnReopened` also cause emails of their own: a consumer wiring both runs both.
HANDLERS: dict[str, Handler] = {
    CycleScheduled.EVENT_TYPE: on_cycle_scheduled,
    CycleTimetableChanged.EVENT_TYPE: on_timetable_changed,
    ExtensionGranted.EVENT_TYPE: on_extension_granted,
    CycleSignedOff.EVENT_TYPE: on_signed_off,
    ReturnReopened.EVENT_TYPE: on_reopened,
}


# --- the reminder run ------------------------------------------------------------------------

#: Every return that still owes a reminder-worthy sign-off at $1 (now): data entry open, a
#: lead to write to, not signed off, before its own close. `$2` narrows it to one cycle.
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

#: Per open return, the nearest offset already due (the smallest d with close - d <= now), if
#: it has not been recorded yet against this close. Days are 24 hours, as in Python.
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


@dataclass(frozen=True)
class Schedule:
    """A cycle's reminder schedule (largest offset first) and its close, as known here."""

    cycle: str
    days_before: list[int]
    closes_at: datetime | None
    data_entry_opens: datetime | None
    set_by: str | None
    set_at: datetime | None


class Reminders:
    """Records the deadline reminders due now; the schedule per cycle."""

    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, portal_url: str = "http://127.0.0.1:8000"
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.portal_url = portal_url.rstrip("/")

    def intent(self, row: Any, now: datetime) -> Intent:
        """The reminder email for one due row of `_DUE`."""
        close: datetime = row["closes_at"].astimezone(UTC)
        d: int = row["due_days_before"]
        cycle, organisation_id = row["cycle"], row["organisation_id"]
        return Intent(
            kind=Kind.DEADLINE_REMINDER,
            organisation_id=organisation_id,
            recipient=row["email"],
            recipient_name=row["lead_name"],
            cause=f"reminder/{cycle}/{organisation_id}/{d}/{close.isoformat()}",
            caused_by_type="reminder",
            context={
                "organisation_name": row["organisation_name"],
                "cycle": cycle,
                "deadline": human_time(close),
                "days_left": days_left(close, now),
                "extended": row["extended"],
                "name": row["lead_name"],
                "link": f"{self.portal_url}/returns/{cycle}",
            },
        )

    async def run_due(self) -> int:
        """Record every reminder due now, in one transaction; how many are new."""
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _RUN_LOCK)
            rows = await conn.fetch(_DUE, now, None)
            if not rows:
                return 0
            intents = [self.intent(r, now) for r in rows]
            await conn.execute(
                _MARK_RECORDED,
                [r["cycle"] for r in rows],
                [r["organisation_id"] for r in rows],
                [r["due_days_before"] for r in rows],
                [r["closes_at"] for r in rows],
                [i.recipient for i in intents],
                [i.id for i in intents],
                now,
            )
            new = await record(conn, intents, now)
        log.info("deadline reminders recorded", count=new)
        return new

    async def run(
        self, stop: asyncio.Event, interval: float = 30, monitor: LoopMonitor | None = None
    ) -> None:
        """Run `run_due` every `interval` seconds until `stop` is set. A failed run (the
        database away) is logged and tried again next time: nothing is lost, since what is
        due stays due until recorded (or the close passes)."""
        monitor = monitor or LoopMonitor("reminders")
        while not stop.is_set():
            try:
                await self.run_due()
                monitor.beat()
            except Exception as exc:
                # Whatever went wrong (the database away, most likely), the loop must outlive
                # it: a dead loop would silently stop every reminder.
                monitor.failed(exc)
                log.exception("deadline reminder run failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    # --- the schedule ------------------------------------------------------------------------

    async def set_schedule(self, cycle: str, days_before: Sequence[int], actor: str) -> Schedule:
        """The national team's schedule for `cycle` (it may come before the cycle's timetable
        has reached this service)."""
        offsets = validate_schedule(days_before)
        await self.pool.execute(
            """
            INSERT INTO reminder_cycles (cycle, days_before, schedule_set_by, schedule_set_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (cycle) DO UPDATE
                SET days_before = EXCLUDED.days_before,
                    schedule_set_by = EXCLUDED.schedule_set_by,
                    schedule_set_at = EXCLUDED.schedule_set_at
            """,
            cycle,
            offsets,
            actor,
            self.clock.now(),
        )
        log.info("reminder schedule set", cycle=cycle, days_before=offsets, actor=actor)
        return await self.schedule(cycle)

    async def schedule(self, cycle: str) -> Schedule:
        row = await self.pool.fetchrow("SELECT * FROM reminder_cycles WHERE cycle = $1", cycle)
        if row is None:
            raise NotFound(f"no cycle {cycle} known to the reminders (not scheduled yet?)")
        return Schedule(
            cycle=cycle,
            days_before=list(row["days_before"]),
            closes_at=row["closes_at"],
            data_entry_opens=row["data_entry_opens"],
            set_by=row["schedule_set_by"],
            set_at=row["schedule_set_at"],
        )

    async def status(self, cycle: str) -> dict[str, Any]:
        """The schedule, the close, the reminders recorded per offset (and what became of
        their emails) and which organisations are due the next reminder."""
        schedule = await self.schedule(cycle)
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            counts = await conn.fetch(
                """
                SELECT rr.days_before, count(*) AS recorded,
                       count(*) FILTER (WHERE n.status = 'sent') AS sent,
                       count(*) FILTER (WHERE n.status = 'failed') AS failed
                FROM reminders_recorded rr
                LEFT JOIN notifications n ON n.id = rr.notification_id
                WHERE rr.cycle = $1
                GROUP BY rr.days_before
                """,
                cycle,
            )
            next_rows = await conn.fetch(_NEXT, now, cycle)
        by_offset = {r["days_before"]: r for r in counts}
        # Every offset of the schedule, and any recorded under an earlier schedule.
        offsets = sorted(set(schedule.days_before) | set(by_offset), reverse=True)
        recorded = [
            {
                "days_before": d,
                "in_schedule": d in schedule.days_before,
                "recorded": by_offset[d]["recorded"] if d in by_offset else 0,
                "sent": by_offset[d]["sent"] if d in by_offset else 0,
                "failed": by_offset[d]["failed"] if d in by_offset else 0,
            }
            for d in offsets
        ]
        return {
            "cycle": cycle,
            "days_before": schedule.days_before,
            "default_schedule": schedule.set_at is None,
            "schedule_set_by": schedule.set_by,
            "schedule_set_at": schedule.set_at.isoformat() if schedule.set_at else None,
            "data_entry_closes": schedule.closes_at.isoformat() if schedule.closes_at else None,
            "recorded": recorded,
            "next": _next_view(next_rows),
        }


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


def _next_view(rows: Sequence[Any]) -> dict[str, Any] | None:
    if not rows:
        return None
    first = rows[0]
    return {
        "due_at": first["due_at"].isoformat(),
        "days_before": sorted({r["days_before"] for r in rows}, reverse=True),
        "count": first["total"],
        "organisations": [
            {
                "organisation_id": r["organisation_id"],
                "name": r["organisation_name"],
                "days_before": r["days_before"],
                "closes_at": r["closes_at"].isoformat(),
            }
            for r in rows
        ],
    }
