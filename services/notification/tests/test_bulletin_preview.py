"""A bulletin previewed before it is sent: the leads it would reach, the email as the first of
them reads it, nothing stored; the same refusals as publishing."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import asyncpg
import pytest

from csm_kernel.clock import FixedClock
from csm_kernel.database import migrate
from csm_kernel.errors import InvalidInput
from notification.application.bulletin_preview import preview_bulletin
from notification.application.bulletins import BulletinFilter
from notification.bootstrap import bulletins as wired_bulletins

pytestmark = pytest.mark.infra

ORGANISATIONS = [
    ("5A4", "Anytown PCT", "pct", "north-west"),
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
            ("5A4", "acc-1", "ann@example.org", "Ann Lead"),
            # One person leading two organisations is one recipient.
            ("00BN", "acc-1", "ann@example.org", "Ann Lead"),
            ("5LA", "acc-2", "cam@example.org", "Cam Lead"),
        ],
    )
    return pg_pool


async def test_preview_counts_the_leads_and_writes_the_email(pool: asyncpg.Pool) -> None:
    bulletins = wired_bulletins(pool, FixedClock(datetime(2009, 12, 1, tzinfo=UTC)))
    everyone = await preview_bulletin(
        bulletins, "  The   mapping opens ", "Hello.\n\nBye <b>.", None
    )
    assert everyone["recipients"] == 2
    assert everyone["subject"] == "The mapping opens"
    assert "Dear " in everyone["text"] and "Hello." in everyone["text"]
    assert "&lt;b&gt;" in everyone["html"]
    london = await preview_bulletin(bulletins, "S", "B", BulletinFilter(regions=["london"]))
    assert (london["recipients"], london["to"]) == (1, "cam@example.org")
    assert "Camden PCT" in london["text"]
    assert await pool.fetchval("SELECT count(*) FROM bulletins") == 0
    with pytest.raises(InvalidInput, match="filter"):
        await preview_bulletin(bulletins, "S", "B", BulletinFilter(regions=["south-west"]))
    with pytest.raises(InvalidInput, match="subject"):
        await preview_bulletin(bulletins, " ", "B", None)


async def test_only_leads_whose_return_is_not_signed_off(pool: asyncpg.Pool) -> None:
    # Camden signed off 2009-10 (and was reopened for 2008-09: that one is not signed off).
    await pool.executemany(
        "INSERT INTO reminder_returns (cycle, organisation_id, signed_off_at) VALUES ($1, $2, $3)",
        [
            ("2009-10", "5LA", datetime(2010, 1, 5, tzinfo=UTC)),
            ("2008-09", "5LA", None),
        ],
    )
    bulletins = wired_bulletins(pool, FixedClock(datetime(2010, 1, 6, tzinfo=UTC)))
    behind = await preview_bulletin(
        bulletins, "S", "B", BulletinFilter(not_signed_off_in="2009-10")
    )
    assert (behind["recipients"], behind["to"]) == (1, "ann@example.org")
    assert behind["filter"]["not_signed_off_in"] == "2009-10"
    earlier = await preview_bulletin(
        bulletins, "S", "B", BulletinFilter(not_signed_off_in="2008-09")
    )
    assert earlier["recipients"] == 2
    with pytest.raises(InvalidInput, match=r"filter\.not_signed_off_in"):
        await preview_bulletin(bulletins, "S", "B", BulletinFilter(not_signed_off_in="last year"))
    sent = await bulletins.publish("S", "B", BulletinFilter(not_signed_off_in="2009-10"), "t")
    assert sent["recipients"] == 1 and sent["filter"]["not_signed_off_in"] == "2009-10"


async def test_a_scheduled_preview_counts_those_matching_now_and_refuses_the_past(
    pool: asyncpg.Pool,
) -> None:
    now = datetime(2009, 12, 1, tzinfo=UTC)
    bulletins = wired_bulletins(pool, FixedClock(now))
    later = datetime(2009, 12, 7, 8, tzinfo=UTC)
    scheduled = await preview_bulletin(bulletins, "S", "B", None, send_at=later)
    assert (scheduled["recipients"], scheduled["send_at"]) == (2, later.isoformat())
    with pytest.raises(InvalidInput) as refused:
        await preview_bulletin(bulletins, "S", "B", None, send_at=now)
    assert refused.value.details == [{"field": "send_at", "reason": "must be in the future"}]
    assert await pool.fetchval("SELECT count(*) FROM bulletins") == 0
