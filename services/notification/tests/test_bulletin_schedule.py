"""Bulletins scheduled for later, on real PostgreSQL: stored without recipients, sent by the
scheduler once its time comes to the leads who match then, sent early or cancelled, and sent
once when the schedulers of several replicas (each its own pool) race for it; and the
endpoints on a small app with the suite's keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.auth import TokenVerifier
from csm_kernel.clock import FixedClock
from csm_kernel.database import migrate
from csm_kernel.errors import Conflict, InvalidInput
from csm_kernel.http import install_error_handlers
from notification.application.bulletins import SCHEDULER, BulletinFilter, Bulletins
from notification.bootstrap import bulletins as wired_bulletins
from notification.entrypoints.http.bulletins import router

pytestmark = pytest.mark.infra

NOW = datetime(2009, 12, 1, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=5)
BODY = "The 2009-10 close is near.\n\nPlease sign off your return."

#: code, name, kind, region
ORGANISATIONS = [
    ("5A4", "Anytown PCT", "pct", "north-west"),
    ("5NT", "Manchester PCT", "pct", "north-west"),
    ("00BN", "Manchester City Council", "local-authority", "north-west"),
    ("5LA", "Camden PCT", "pct", "london"),
]


@pytest.fixture
async def pool(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate(pg_pool, "notification", resources.files("notification.adapters") / "sql")
    await pg_pool.executemany("INSERT INTO organisations VALUES ($1, $2, $3, $4)", ORGANISATIONS)
    await pg_pool.executemany(
        "INSERT INTO leads VALUES ($1, $2, $3, $4)",
        [
            (code, f"acc-{code}", f"lead-{code.lower()}@example.org", f"Lead {code}")
            for code, *_ in ORGANISATIONS
        ],
    )
    return pg_pool


@pytest.fixture
def bulletins(pool: asyncpg.Pool) -> Bulletins:
    return wired_bulletins(pool, FixedClock(NOW))


def at(bulletins: Bulletins, moment: datetime) -> None:
    clock = bulletins.clock
    assert isinstance(clock, FixedClock)
    clock.set(moment)


async def emailed(pool: asyncpg.Pool, bulletin_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT organisation_id FROM notifications WHERE caused_by = $1 ORDER BY 1",
        f"bulletin/{bulletin_id}",
    )
    return [r["organisation_id"] for r in rows]


async def test_scheduled_it_waits_and_goes_to_the_leads_who_match_when_it_is_due(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    behind = BulletinFilter(kinds=["pct"], not_signed_off_in="2009-10")
    scheduled = await bulletins.publish("Sign off", BODY, behind, "user:ada", send_at=LATER)
    assert scheduled["status"] == "scheduled"
    assert scheduled["recipients"] is None
    assert scheduled["send_at"] == LATER.isoformat()
    # Nothing is recorded, and the scheduler leaves it alone, before its time.
    assert await emailed(pool, scheduled["id"]) == []
    at(bulletins, LATER - timedelta(seconds=1))
    assert await bulletins.run_due() == 0

    # Meanwhile Anytown signs off: the bulletin to those not signed off leaves it out.
    await pool.execute(
        "INSERT INTO reminder_returns (cycle, organisation_id, signed_off_at, status_at) "
        "VALUES ('2009-10', '5A4', $1, $1)",
        NOW + timedelta(days=1),
    )
    at(bulletins, LATER + timedelta(seconds=20))
    assert await bulletins.run_due() == 1
    assert await emailed(pool, scheduled["id"]) == ["5LA", "5NT"]
    sent = await bulletins.get(scheduled["id"])
    assert sent["status"] == "sent"
    assert sent["recipients"] == 2
    assert sent["sent_at"] == (LATER + timedelta(seconds=20)).isoformat()
    assert sent["sent_by"] == SCHEDULER
    assert sent["created_by"] == "user:ada"
    assert sent["delivery"] == {"pending": 2, "sent": 0, "failed": 0}
    # Run again (a restart, another replica): nothing more.
    assert await bulletins.run_due() == 0
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 2


async def test_the_schedulers_of_several_replicas_racing_send_each_bulletin_once(
    pool: asyncpg.Pool, infra: Any
) -> None:
    dsn = pool._connect_args[0]  # type: ignore[attr-defined]
    # Three replicas, each with its own pool (as separate processes have).
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=4) for _ in range(3)]
    try:
        clock = FixedClock(NOW)
        replicas = [wired_bulletins(p, clock) for p in pools]
        ids = [
            (
                await replicas[0].publish(
                    f"News {i}", BODY, None, "user:ada", send_at=NOW + timedelta(minutes=i + 1)
                )
            )["id"]
            for i in range(6)
        ]
        clock.set(NOW + timedelta(hours=1))
        # Every replica runs its scheduler at once, several times over.
        runs = await asyncio.gather(*(r.run_due() for r in replicas for _ in range(3)))
        assert sum(runs) == 6, runs
        for bulletin_id in ids:
            assert await emailed(pool, bulletin_id) == ["00BN", "5A4", "5LA", "5NT"]
        statuses = await pool.fetch("SELECT status, recipients FROM bulletins")
        assert {(r["status"], r["recipients"]) for r in statuses} == {("sent", 4)}
        assert await pool.fetchval("SELECT count(*) FROM notifications") == 24
    finally:
        for p in pools:
            await p.close()


async def test_send_now_racing_the_scheduler_sends_once(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    dsn = pool._connect_args[0]  # type: ignore[attr-defined]
    other = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    try:
        scheduled = await bulletins.publish("Race", BODY, None, "user:ada", send_at=LATER)
        at(bulletins, LATER)
        replica = wired_bulletins(other, bulletins.clock)
        outcomes = await asyncio.gather(
            replica.run_due(),
            bulletins.send_now(scheduled["id"], "user:bo"),
            return_exceptions=True,
        )
        # Whichever came second found it sent (or skipped it): one set of emails either way.
        assert await emailed(pool, scheduled["id"]) == ["00BN", "5A4", "5LA", "5NT"]
        sent = await bulletins.get(scheduled["id"])
        assert sent["status"] == "sent"
        assert sent["sent_by"] in {SCHEDULER, "user:bo"}
        if sent["sent_by"] == "user:bo":
            assert outcomes[0] == 0
        else:
            assert isinstance(outcomes[1], Conflict)
    finally:
        await other.close()


async def test_sent_early_then_not_again_when_its_time_comes(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    scheduled = await bulletins.publish(
        "Early", BODY, BulletinFilter(regions=["london"]), "user:ada", send_at=LATER
    )
    at(bulletins, NOW + timedelta(hours=2))
    sent = await bulletins.send_now(scheduled["id"], "user:bo")
    assert (sent["status"], sent["recipients"], sent["sent_by"]) == ("sent", 1, "user:bo")
    assert sent["sent_at"] == (NOW + timedelta(hours=2)).isoformat()
    at(bulletins, LATER)
    assert await bulletins.run_due() == 0
    assert await emailed(pool, scheduled["id"]) == ["5LA"]
    with pytest.raises(Conflict, match="already been sent"):
        await bulletins.send_now(scheduled["id"], "user:bo")
    with pytest.raises(Conflict, match="already been sent"):
        await bulletins.cancel(scheduled["id"], "user:bo")


async def test_cancelled_it_is_never_sent(pool: asyncpg.Pool, bulletins: Bulletins) -> None:
    scheduled = await bulletins.publish("Oops", BODY, None, "user:ada", send_at=LATER)
    cancelled = await bulletins.cancel(scheduled["id"], "user:bo")
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "user:bo"
    assert cancelled["cancelled_at"] == NOW.isoformat()
    at(bulletins, LATER + timedelta(days=1))
    assert await bulletins.run_due() == 0
    assert await emailed(pool, scheduled["id"]) == []
    for change in (bulletins.cancel, bulletins.send_now):
        with pytest.raises(Conflict, match="was cancelled"):
            await change(scheduled["id"], "user:bo")


async def test_due_with_nobody_matching_it_is_done_to_no_one(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    scheduled = await bulletins.publish(
        "Camden", BODY, BulletinFilter(organisation_ids=["5LA"]), "user:ada", send_at=LATER
    )
    await pool.execute("DELETE FROM leads WHERE organisation_id = '5LA'")
    # Sending it early is refused (it stays scheduled), naming the filter.
    with pytest.raises(InvalidInput) as refused:
        await bulletins.send_now(scheduled["id"], "user:bo")
    assert refused.value.details[0]["field"] == "filter"
    assert (await bulletins.get(scheduled["id"]))["status"] == "scheduled"
    # When its time comes it is sent to nobody, not retried at every run.
    at(bulletins, LATER)
    assert await bulletins.run_due() == 1
    done = await bulletins.get(scheduled["id"])
    assert (done["status"], done["recipients"]) == ("sent", 0)
    assert await bulletins.run_due() == 0


async def test_a_moment_not_in_the_future_is_refused_and_nothing_stored(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    for moment in (NOW, NOW - timedelta(days=1), NOW + timedelta(days=400)):
        with pytest.raises(InvalidInput) as refused:
            await bulletins.publish("News", BODY, None, "user:ada", send_at=moment)
        assert refused.value.details[0]["field"] == "send_at"
    assert await pool.fetchval("SELECT count(*) FROM bulletins") == 0


async def test_the_list_shows_waiting_ones_first_soonest_first(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    now_sent = await bulletins.publish("Sent now", BODY, None, "user:ada")
    later = await bulletins.publish("Later", BODY, None, "user:ada", send_at=LATER)
    sooner = await bulletins.publish(
        "Sooner", BODY, None, "user:ada", send_at=NOW + timedelta(hours=1)
    )
    cancelled = await bulletins.publish("Off", BODY, None, "user:ada", send_at=LATER)
    at(bulletins, NOW + timedelta(minutes=5))
    await bulletins.cancel(cancelled["id"], "user:ada")
    listed = await bulletins.list()
    assert [b["id"] for b in listed] == [sooner["id"], later["id"], cancelled["id"], now_sent["id"]]
    assert [b["status"] for b in listed] == ["scheduled", "scheduled", "cancelled", "sent"]
    assert listed[3]["send_at"] is None
    assert listed[3]["sent_at"] == NOW.isoformat()
    assert listed[0]["recipients"] is None


# --- HTTP ------------------------------------------------------------------------------------


@pytest.fixture
async def client(bulletins: Bulletins, auth_keys: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    app.state.services = SimpleNamespace(bulletins=bulletins)
    app.state.token_verifier = TokenVerifier(auth_keys.public_file.read_bytes())
    install_error_handlers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification") as c:
        yield c


async def test_schedule_send_and_cancel_over_http(
    pool: asyncpg.Pool, client: httpx.AsyncClient, auth_keys: Any
) -> None:
    admin = auth_keys.headers("national-admin")
    news = {"subject": "News", "body": BODY}
    for send_at, reason in [
        ("2009-12-01T09:00:00Z", "must be in the future"),
        ("2009-12-07T08:00:00", "timezone"),  # no offset: which 8am?
        ("tomorrow", "datetime"),
    ]:
        refused = await client.post("/bulletins", json={**news, "send_at": send_at}, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["details"][0]["field"] == "send_at"
        assert reason in refused.json()["details"][0]["reason"].lower(), refused.json()

    created = await client.post(
        "/bulletins", json={**news, "send_at": "2009-12-07T08:00:00Z"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["recipients"]) == ("scheduled", None)
    bulletin_id = created.json()["id"]
    got = await client.get(f"/bulletins/{bulletin_id}", headers=auth_keys.headers("auditor"))
    assert got.json()["send_at"] == "2009-12-07T08:00:00+00:00"

    lead = auth_keys.headers("mapping-lead")
    assert (await client.post(f"/bulletins/{bulletin_id}/cancel", headers=lead)).status_code == 403
    assert (await client.post("/bulletins/nope/cancel", headers=admin)).status_code == 404
    sent = await client.post(f"/bulletins/{bulletin_id}/send", headers=admin)
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["recipients"]) == ("sent", 4)
    again = await client.post(f"/bulletins/{bulletin_id}/cancel", headers=admin)
    assert again.status_code == 409
    assert "already been sent" in again.json()["error"]
