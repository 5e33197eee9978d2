"""Deadline reminders on real PostgreSQL and a fixed clock: the questionnaire service's events
applied by the consumer handlers, then `Reminders.run_due` at chosen moments of a cycle; the
schedule endpoints on a small app with the suite's keys."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from csm_contracts.events.cycles import (
    CycleScheduled,
    CycleTimetableChanged,
    ExtensionGranted,
    ReturnReopened,
    Timetable,
)
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_kernel.auth import TokenVerifier
from csm_kernel.clock import FixedClock
from csm_kernel.database import migrate
from csm_kernel.errors import InvalidInput
from csm_kernel.http import install_error_handlers
from notification.application import reminders as reminders_module
from notification.application.reminders import Reminders, human_time
from notification.application.templates import render
from notification.bootstrap import reminder_handlers
from notification.bootstrap import reminders as wired_reminders
from notification.entrypoints.http.reminders import router

pytestmark = pytest.mark.infra

CYCLE = "2009-10"
TIMETABLE = Timetable(
    sandbox_opens=datetime(2009, 10, 1, tzinfo=UTC),
    data_entry_opens=datetime(2009, 11, 2, tzinfo=UTC),
    summary_reports=datetime(2010, 1, 11, tzinfo=UTC),
    data_entry_closes=datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC),
    publication=datetime(2010, 4, 6, tzinfo=UTC),
)
CLOSE = TIMETABLE.data_entry_closes
PORTAL = "https://csm.example"
HANDLERS = reminder_handlers().handlers()
#: When the events of a test happened, unless it says (before any of the cycle's dates).
EARLY = datetime(2009, 9, 1, tzinfo=UTC)


def before_close(days: float, close: datetime = CLOSE) -> datetime:
    """A moment `days` before the close, an hour past that offset's due time."""
    return close - timedelta(days=days) + timedelta(hours=1)


@pytest.fixture
async def pool(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    sql = resources.files("notification.adapters").joinpath("sql")
    await migrate(pg_pool, "notification", sql)
    return pg_pool


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2009, 11, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def reminders(pool: asyncpg.Pool, clock: FixedClock) -> Reminders:
    return wired_reminders(pool, clock, portal_url=PORTAL + "/")


async def apply(pool: asyncpg.Pool, event: Any, at: datetime | None = None) -> None:
    """Apply one event as the consumer would: its handler, in a transaction."""
    envelope = SimpleNamespace(event_id=uuid4(), correlation_id="c", occurred_at=at or EARLY)
    async with pool.acquire() as conn, conn.transaction():
        await HANDLERS[event.EVENT_TYPE](conn, envelope, event)


async def organisation(
    pool: asyncpg.Pool, code: str, *, lead: bool = True, email: str | None = None
) -> None:
    await pool.execute(
        "INSERT INTO organisations (code, name, kind, region) VALUES ($1, $2, 'pct', 'london')",
        code,
        f"{code} PCT",
    )
    if lead:
        await pool.execute(
            "INSERT INTO leads (organisation_id, account_id, email, name) VALUES ($1, $2, $3, $4)",
            code,
            f"acc-{code}",
            email or f"lead-{code.lower()}@example.org",
            f"Lead of {code}",
        )


async def schedule_cycle(pool: asyncpg.Pool, timetable: Timetable = TIMETABLE) -> None:
    await apply(pool, CycleScheduled(cycle=CYCLE, timetable=timetable))


def signed_off(org: str) -> CycleSignedOff:
    return CycleSignedOff(
        organisation_id=org,
        cycle=CYCLE,
        signed_off_at=datetime(2010, 2, 1, tzinfo=UTC),
        signed_off_by="user:lead",
        questionnaires_submitted=3,
    )


async def reminder_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notifications WHERE kind = 'deadline-reminder' ORDER BY created_at, id"
    )


async def offsets_recorded(pool: asyncpg.Pool, org: str) -> list[int]:
    rows = await pool.fetch(
        "SELECT days_before FROM reminders_recorded WHERE organisation_id = $1 "
        "ORDER BY recorded_at",
        org,
    )
    return [r["days_before"] for r in rows]


async def at(clock: FixedClock, reminders: Reminders, moment: datetime) -> int:
    clock.set(moment)
    return await reminders.run_due()


# --- the schedule ----------------------------------------------------------------------------


async def test_default_schedule_28_14_7_1_days_before_the_close(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await schedule_cycle(pool)

    assert await at(clock, reminders, CLOSE - timedelta(days=29)) == 0
    assert await at(clock, reminders, before_close(28)) == 1
    assert await at(clock, reminders, before_close(20)) == 0
    assert await at(clock, reminders, before_close(14)) == 1
    assert await at(clock, reminders, before_close(7)) == 1
    assert await at(clock, reminders, before_close(1)) == 1
    assert await offsets_recorded(pool, "5A4") == [28, 14, 7, 1]

    rows = await reminder_rows(pool)
    assert [r["recipient"] for r in rows] == ["lead-5a4@example.org"] * 4
    first = rows[0]
    assert first["organisation_id"] == "5A4"
    assert first["status"] == "pending"
    assert first["recipient_name"] == "Lead of 5A4"
    assert first["caused_by"] == f"reminder/{CYCLE}/5A4/28/{CLOSE.isoformat()}"
    assert first["caused_by_type"] == "reminder"
    context = json.loads(first["context"])
    assert context == {
        "organisation_name": "5A4 PCT",
        "cycle": CYCLE,
        "deadline": "28 February 2010, 23:59",
        "days_left": 28,
        "extended": False,
        "name": "Lead of 5A4",
        "link": f"{PORTAL}/returns/{CYCLE}",
    }
    assert [json.loads(r["context"])["days_left"] for r in rows] == [28, 14, 7, 1]


async def test_a_custom_schedule_replaces_the_default(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    # Set before the cycle's timetable reaches the service: the timetable must not undo it.
    await reminders.set_schedule(CYCLE, [3, 10], "user:admin")
    await schedule_cycle(pool)

    schedule = await reminders.schedule(CYCLE)
    assert schedule.days_before == [10, 3]
    assert schedule.closes_at == CLOSE
    assert schedule.set_by == "user:admin"

    assert await at(clock, reminders, before_close(28)) == 0
    assert await at(clock, reminders, before_close(14)) == 0
    assert await at(clock, reminders, before_close(10)) == 1
    assert await at(clock, reminders, before_close(7)) == 0
    assert await at(clock, reminders, before_close(3)) == 1
    assert await at(clock, reminders, before_close(1)) == 0
    assert await offsets_recorded(pool, "5A4") == [10, 3]


@pytest.mark.parametrize(
    ("days", "reason"),
    [
        ([], "between 1 and 10"),
        (list(range(1, 12)), "between 1 and 10"),
        ([0], "from 1 to 120"),
        ([121], "from 1 to 120"),
        ([7, 7], "distinct"),
        ([True], "whole number"),
    ],
)
async def test_a_schedule_breaking_the_rules_is_refused(
    reminders: Reminders, days: list[int], reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await reminders.set_schedule(CYCLE, days, "user:admin")
    assert refused.value.details[0]["field"] == "days_before"
    assert reason in refused.value.details[0]["reason"]


# --- sign-off, reopening, extensions, the close ----------------------------------------------


async def test_no_reminders_after_sign_off_and_again_after_reopening(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await organisation(pool, "5NT")
    await schedule_cycle(pool)
    assert await at(clock, reminders, before_close(28)) == 2

    await apply(pool, signed_off("5A4"), datetime(2010, 2, 1, tzinfo=UTC))
    assert await at(clock, reminders, before_close(14)) == 1
    assert await at(clock, reminders, before_close(7)) == 1
    assert await offsets_recorded(pool, "5A4") == [28]
    assert await offsets_recorded(pool, "5NT") == [28, 14, 7]

    await apply(
        pool,
        ReturnReopened(organisation_id="5A4", cycle=CYCLE, reason="NI 51 answered wrongly"),
        datetime(2010, 2, 23, tzinfo=UTC),
    )
    # Reopened with 7 days to go: the 7-day reminder (the nearest due), not the 14 it missed.
    assert await reminders.run_due() == 1
    assert await offsets_recorded(pool, "5A4") == [28, 7]
    assert await at(clock, reminders, before_close(1)) == 2


async def test_an_extension_moves_the_reminders_to_the_new_close(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await organisation(pool, "5NT")
    await schedule_cycle(pool)
    assert await at(clock, reminders, before_close(1)) == 2  # the 1-day one, nearest due

    until = CLOSE + timedelta(days=14)
    await apply(
        pool,
        ExtensionGranted(organisation_id="5A4", cycle=CYCLE, until=until, reason="flooding"),
        datetime(2010, 2, 28, tzinfo=UTC),
    )
    # Past the cycle's close: only the extended organisation still has a deadline, and the
    # nearest offset due against its new close is 14.
    assert await at(clock, reminders, CLOSE + timedelta(hours=1)) == 1
    assert await offsets_recorded(pool, "5A4") == [1, 14]
    assert await offsets_recorded(pool, "5NT") == [1]
    row = (await reminder_rows(pool))[-1]
    assert row["caused_by"] == f"reminder/{CYCLE}/5A4/14/{until.isoformat()}"
    context = json.loads(row["context"])
    assert context["deadline"] == "14 March 2010, 23:59"
    assert context["days_left"] == 14
    assert context["extended"] is True

    assert await at(clock, reminders, before_close(7, until)) == 1
    assert await at(clock, reminders, before_close(1, until)) == 1
    assert await at(clock, reminders, until + timedelta(minutes=1)) == 0
    assert await offsets_recorded(pool, "5A4") == [1, 14, 7, 1]


async def test_a_timetable_change_moves_the_close(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await schedule_cycle(pool)
    later = TIMETABLE.model_copy(update={"data_entry_closes": CLOSE + timedelta(days=7)})
    await apply(
        pool,
        CycleTimetableChanged(
            cycle=CYCLE, old_timetable=TIMETABLE, new_timetable=later, reason="snow"
        ),
        datetime(2010, 1, 5, tzinfo=UTC),
    )
    # A late redelivery of the original schedule must not move the close back.
    await apply(pool, CycleScheduled(cycle=CYCLE, timetable=TIMETABLE), EARLY)
    assert (await reminders.schedule(CYCLE)).closes_at == later.data_entry_closes

    assert await at(clock, reminders, before_close(28)) == 0  # 28 days before the old close
    assert await at(clock, reminders, before_close(28, later.data_entry_closes)) == 1


async def test_only_the_nearest_due_offset_when_several_are_due(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await schedule_cycle(pool)
    # The service was down from before the 28-day reminder until 5 days before the close.
    assert await at(clock, reminders, CLOSE - timedelta(days=5)) == 1
    assert await offsets_recorded(pool, "5A4") == [7]
    assert len(await reminder_rows(pool)) == 1
    assert json.loads((await reminder_rows(pool))[0]["context"])["days_left"] == 5


async def test_running_twice_records_nothing_twice(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    for code in ("5A4", "5NT", "5QT"):
        await organisation(pool, code)
    await schedule_cycle(pool)
    clock.set(before_close(14))
    assert await reminders.run_due() == 3
    assert await reminders.run_due() == 0
    # Even two runs at once (two processes) record each reminder once.
    assert list(await asyncio.gather(reminders.run_due(), reminders.run_due())) == [0, 0]
    assert len(await reminder_rows(pool)) == 3
    assert await pool.fetchval("SELECT count(*) FROM reminders_recorded") == 3


async def test_a_run_that_records_reminders_is_one_span_an_empty_run_none(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = Reminders(reminders.store, reminders.intents, clock, tracer_provider=provider)
    for code in ("5A4", "5NT"):
        await organisation(pool, code)
    await schedule_cycle(pool)
    clock.set(before_close(14))
    assert await traced.run_due() == 2
    [span] = exporter.get_finished_spans()
    assert span.name == "notification reminders"
    assert span.attributes is not None and span.attributes["csm.reminders.due"] == 2
    assert await traced.run_due() == 0
    assert len(exporter.get_finished_spans()) == 1


async def test_concurrent_runs_record_each_reminder_once(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    for n in range(20):
        await organisation(pool, f"X{n:02d}")
    await schedule_cycle(pool)
    clock.set(before_close(7))
    results = await asyncio.gather(*(reminders.run_due() for _ in range(4)))
    assert sorted(results) == [0, 0, 0, 20]
    assert len(await reminder_rows(pool)) == 20


async def test_no_reminders_after_the_close(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await schedule_cycle(pool)
    # The service was down over the whole last day: nothing is sent late.
    assert await at(clock, reminders, CLOSE + timedelta(seconds=1)) == 0
    assert await at(clock, reminders, CLOSE + timedelta(days=3)) == 0
    assert await reminder_rows(pool) == []


async def test_no_reminders_before_data_entry_opens(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await reminders.set_schedule(CYCLE, [120], "user:admin")
    await schedule_cycle(pool)
    # 120 days before the close is before data entry opens: nothing to remind of yet.
    assert await at(clock, reminders, datetime(2009, 11, 1, 12, tzinfo=UTC)) == 0
    assert await at(clock, reminders, TIMETABLE.data_entry_opens) == 1


async def test_no_lead_no_reminder(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4", lead=False)
    await schedule_cycle(pool)
    assert await at(clock, reminders, before_close(7)) == 0
    assert await reminder_rows(pool) == []
    # Once a lead is named, the reminder due now goes to them.
    await pool.execute(
        "INSERT INTO leads VALUES ('5A4', 'acc', 'new-lead@example.org', 'New Lead')"
    )
    assert await reminders.run_due() == 1
    assert [r["recipient"] for r in await reminder_rows(pool)] == ["new-lead@example.org"]


async def test_no_cycle_no_reminder(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await reminders.set_schedule(CYCLE, [28], "user:admin")  # a schedule, but no timetable
    assert await at(clock, reminders, before_close(1)) == 0


async def test_the_loop_runs_until_stopped(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await organisation(pool, "5A4")
    await schedule_cycle(pool)
    clock.set(before_close(7))
    stop = asyncio.Event()
    task = asyncio.create_task(reminders.run(stop, interval=0.05))
    for _ in range(100):
        if await pool.fetchval("SELECT count(*) FROM reminders_recorded"):
            break
        await asyncio.sleep(0.05)
    clock.set(before_close(1))
    for _ in range(100):
        if await pool.fetchval("SELECT count(*) FROM reminders_recorded") == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert await offsets_recorded(pool, "5A4") == [7, 1]


async def test_ten_thousand_organisations_in_a_few_seconds(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    codes = [f"Z{n:04d}" for n in range(10_000)]
    await pool.execute(
        "INSERT INTO organisations SELECT c, c || ' PCT', 'pct', 'london' "
        "FROM unnest($1::text[]) c",
        codes,
    )
    await pool.execute(
        "INSERT INTO leads SELECT c, 'acc-' || c, lower(c) || '@example.org', 'Lead ' || c "
        "FROM unnest($1::text[]) c",
        codes,
    )
    await schedule_cycle(pool)
    # A tenth signed off: no reminder for them.
    await pool.executemany(
        "INSERT INTO reminder_returns (cycle, organisation_id, signed_off_at) VALUES ($1, $2, $3)",
        [(CYCLE, c, CLOSE - timedelta(days=30)) for c in codes[::10]],
    )
    clock.set(before_close(14))
    started = time.perf_counter()
    assert await reminders.run_due() == 9_000
    first = time.perf_counter() - started
    started = time.perf_counter()
    assert await reminders.run_due() == 0
    again = time.perf_counter() - started
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 9_000
    assert first < 5, f"10,000 organisations took {first:.2f} s"
    assert again < 1, f"a run with nothing new took {again:.2f} s"


# --- the email -------------------------------------------------------------------------------


async def test_the_template_renders_with_the_context_recorded(
    pool: asyncpg.Pool, clock: FixedClock, reminders: Reminders
) -> None:
    await pool.execute(
        "INSERT INTO organisations VALUES ('5A4', 'Anytown <&> PCT', 'pct', 'london')"
    )
    await pool.execute("INSERT INTO leads VALUES ('5A4', 'acc', 'ada@example.org', 'Ada Lovelace')")
    await schedule_cycle(pool)
    assert await at(clock, reminders, before_close(1)) == 1
    context = json.loads((await reminder_rows(pool))[0]["context"])
    email = render("deadline-reminder", context)
    assert email.subject == "Reminder: 1 day left to sign off Anytown <&> PCT's 2009-10 return"
    assert "Dear Ada Lovelace," in email.text
    assert "The deadline is 28 February 2010, 23:59: 1 day from now." in email.text
    assert f"{PORTAL}/returns/{CYCLE}" in email.text
    assert "Anytown &lt;&amp;&gt; PCT" in email.html
    assert "<strong>28 February 2010, 23:59</strong>" in email.html
    assert f'href="{PORTAL}/returns/{CYCLE}"' in email.html

    plural = render("deadline-reminder", {**context, "days_left": 14, "extended": True})
    assert plural.subject.startswith("Reminder: 14 days left")
    assert "The extended deadline is" in plural.text


def test_deadlines_read_in_uk_time() -> None:
    assert human_time(datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC)) == "28 February 2010, 23:59"
    # British Summer Time: 22:59 UTC is 23:59 in England.
    assert human_time(datetime(2010, 6, 30, 22, 59, tzinfo=UTC)) == "30 June 2010, 23:59"
    assert reminders_module.days_left(CLOSE, CLOSE - timedelta(hours=23)) == 1
    assert reminders_module.days_left(CLOSE, CLOSE - timedelta(days=6, hours=1)) == 7


# --- HTTP ------------------------------------------------------------------------------------


@pytest.fixture
async def client(reminders: Reminders, auth_keys: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    app.state.services = SimpleNamespace(reminders=reminders)
    app.state.token_verifier = TokenVerifier(auth_keys.public_file.read_bytes())
    install_error_handlers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification") as c:
        yield c


async def test_the_schedule_over_http(
    pool: asyncpg.Pool,
    clock: FixedClock,
    reminders: Reminders,
    client: httpx.AsyncClient,
    auth_keys: Any,
) -> None:
    admin = auth_keys.headers("national-admin")
    await organisation(pool, "5A4")
    await organisation(pool, "5NT")
    await schedule_cycle(pool)

    put = await client.put(
        f"/reminders/{CYCLE}/schedule", json={"days_before": [7, 21, 1]}, headers=admin
    )
    assert put.status_code == 200, put.text
    assert put.json()["days_before"] == [21, 7, 1]
    assert put.json()["default_schedule"] is False
    assert put.json()["schedule_set_by"].startswith("user:")

    assert await at(clock, reminders, before_close(21)) == 2
    # The sender delivered 5A4's.
    await pool.execute("UPDATE notifications SET status = 'sent' WHERE organisation_id = '5A4'")
    await apply(pool, signed_off("5NT"))
    clock.set(before_close(10))
    got = await client.get(f"/reminders/{CYCLE}", headers=auth_keys.headers("auditor"))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["data_entry_closes"] == CLOSE.isoformat()
    assert body["recorded"] == [
        {"days_before": 21, "in_schedule": True, "recorded": 2, "sent": 1, "failed": 0},
        {"days_before": 7, "in_schedule": True, "recorded": 0, "sent": 0, "failed": 0},
        {"days_before": 1, "in_schedule": True, "recorded": 0, "sent": 0, "failed": 0},
    ]
    # 5NT is signed off: only 5A4 is due the 7-day reminder.
    assert body["next"]["due_at"] == (CLOSE - timedelta(days=7)).isoformat()
    assert body["next"]["count"] == 1
    assert body["next"]["days_before"] == [7]
    assert [o["organisation_id"] for o in body["next"]["organisations"]] == ["5A4"]

    # Overdue and not yet recorded: due now, at the next run.
    clock.set(before_close(7))
    assert (await client.get(f"/reminders/{CYCLE}", headers=admin)).json()["next"][
        "due_at"
    ] == clock.now().isoformat()


async def test_schedule_validation_and_roles_over_http(
    reminders: Reminders, client: httpx.AsyncClient, auth_keys: Any
) -> None:
    admin = auth_keys.headers("national-admin")
    url = f"/reminders/{CYCLE}/schedule"
    for bad, field in [
        ([], "days_before"),
        ([7, 7], "days_before"),
        ([0, 7], "days_before"),
        (["7"], "days_before.0"),
        ([7.5], "days_before.0"),
    ]:
        refused = await client.put(url, json={"days_before": bad}, headers=admin)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["details"][0]["field"] == field, bad
    assert (await client.put(url, json={"days": [7]}, headers=admin)).status_code == 422
    bad_cycle = await client.put(
        "/reminders/2009/schedule", json={"days_before": [7]}, headers=admin
    )
    assert bad_cycle.status_code == 422

    assert (await client.put(url, json={"days_before": [7]})).status_code == 401
    for role in ("auditor", "mapping-lead", "regulator"):
        forbidden = await client.put(
            url, json={"days_before": [7]}, headers=auth_keys.headers(role)
        )
        assert forbidden.status_code == 403, role
    lead = auth_keys.headers("mapping-lead", org="5A4")
    assert (await client.get(f"/reminders/{CYCLE}", headers=lead)).status_code == 403
    unknown = await client.get("/reminders/1999-00", headers=admin)
    assert unknown.status_code == 404
    assert "1999-00" in unknown.json()["error"]
