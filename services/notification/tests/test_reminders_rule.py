"""The reminder run selects due returns in SQL, set-based over every organisation; the rule it
applies is `domain.reminders` (`close_of`, `nearest_due`). This holds the two to the same
answer over extensions, sign-offs and many moments around the offsets and the close."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import SimpleNamespace

import asyncpg
import pytest

from csm_contracts.events.cycles import CycleScheduled, ExtensionGranted, Timetable
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_kernel.database import migrate
from notification.adapters.reminders_pg import PostgresReminders
from notification.bootstrap import reminder_handlers
from notification.domain.reminders import close_of, nearest_due

pytestmark = pytest.mark.infra

CYCLE = "2009-10"
OPENS = datetime(2009, 11, 2, tzinfo=UTC)
CLOSE = datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC)
OFFSETS = [28, 14, 7, 1]
#: Organisation -> its extension (None: none).
EXTENSIONS = {
    "5A4": None,
    "5NT": CLOSE + timedelta(days=10, hours=3),
    "00BN": CLOSE - timedelta(days=2),  # shorter than the cycle's close: no effect
    "5LA": CLOSE + timedelta(hours=5),
}
SIGNED_OFF = "00AG"


async def test_the_due_query_applies_the_domain_rule(pg_pool: asyncpg.Pool) -> None:
    await migrate(pg_pool, "notification", resources.files("notification.adapters") / "sql")
    handlers = reminder_handlers().handlers()

    async def apply(event: object) -> None:
        env = SimpleNamespace(event_id=uuid.uuid4(), occurred_at=OPENS - timedelta(days=30))
        async with pg_pool.acquire() as conn, conn.transaction():
            await handlers[event.EVENT_TYPE](conn, env, event)  # type: ignore[attr-defined]

    for code in [*EXTENSIONS, SIGNED_OFF]:
        await pg_pool.execute(
            "INSERT INTO organisations VALUES ($1, $2, 'pct', 'london')", code, f"{code} PCT"
        )
        await pg_pool.execute(
            "INSERT INTO leads VALUES ($1, $2, $3, 'Lead')", code, f"a-{code}", f"{code}@x.org"
        )
    timetable = Timetable(
        sandbox_opens=OPENS - timedelta(days=30),
        data_entry_opens=OPENS,
        summary_reports=OPENS + timedelta(days=60),
        data_entry_closes=CLOSE,
        publication=CLOSE + timedelta(days=40),
    )
    await apply(CycleScheduled(cycle=CYCLE, timetable=timetable))
    for code, until in EXTENSIONS.items():
        if until is not None:
            await apply(
                ExtensionGranted(
                    organisation_id=code,
                    cycle=CYCLE,
                    until=until,
                    reason="r",
                )
            )
    await apply(
        CycleSignedOff(
            organisation_id=SIGNED_OFF,
            cycle=CYCLE,
            signed_off_at=OPENS + timedelta(days=1),
            signed_off_by="user:lead",
            questionnaires_submitted=1,
        )
    )

    store = PostgresReminders(pg_pool)
    moments = [OPENS - timedelta(hours=1)] + [
        close_of(CLOSE, until) - timedelta(days=d) + shift
        for until in EXTENSIONS.values()
        for d in [*OFFSETS, 0, 40]
        for shift in (timedelta(seconds=-1), timedelta(0), timedelta(seconds=1))
    ]
    for now in moments:
        async with pg_pool.acquire() as conn:
            selected = {d.organisation_id: d.days_before for d in await store.due(conn, now)}
        expected = {}
        for code, until in EXTENSIONS.items():
            offset = nearest_due(OFFSETS, close_of(CLOSE, until), now) if now >= OPENS else None
            if offset is not None:
                expected[code] = offset
        assert selected == expected, now
