"""E-bulletins on real PostgreSQL: who a filter picks, one email per lead, what is stored, the
email's words (escaped), and the endpoints on a small app with the suite's keys."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
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
from csm_kernel.errors import InvalidInput
from csm_kernel.http import install_error_handlers
from notification.application.bulletins import BulletinFilter, Bulletins, paragraphs
from notification.application.templates import render
from notification.bootstrap import bulletins as wired_bulletins
from notification.entrypoints.http.bulletins import router

pytestmark = pytest.mark.infra

NOW = datetime(2009, 12, 1, 10, 0, tzinfo=UTC)

#: code, name, kind, region
ORGANISATIONS = [
    ("5A4", "Anytown PCT", "pct", "north-west"),
    ("5NT", "Manchester PCT", "pct", "north-west"),
    ("00BN", "Manchester City Council", "local-authority", "north-west"),
    ("5LA", "Camden PCT", "pct", "london"),
    ("00AG", "Camden Council", "local-authority", "london"),
    ("RRK", "University Hospital", "nhs-trust-acute", "west-midlands"),
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
            if code != "RRK"
        ],  # the trust has no lead yet
    )
    return pg_pool


@pytest.fixture
def bulletins(pool: asyncpg.Pool) -> Bulletins:
    return wired_bulletins(pool, FixedClock(NOW))


async def recipients(pool: asyncpg.Pool, bulletin_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT recipient FROM notifications WHERE kind = 'bulletin' AND caused_by = $1 "
        "ORDER BY recipient",
        f"bulletin/{bulletin_id}",
    )
    return [r["recipient"] for r in rows]


BODY = "The 2009-10 mapping opens on 2 November.\n\nPlease check your services."


async def test_no_filter_every_lead(pool: asyncpg.Pool, bulletins: Bulletins) -> None:
    published = await bulletins.publish("Mapping opens", BODY, None, "user:admin")
    assert published["recipients"] == 5
    assert published["filter"] == {"regions": [], "kinds": [], "organisation_ids": []}
    assert await recipients(pool, published["id"]) == [
        "lead-00ag@example.org",
        "lead-00bn@example.org",
        "lead-5a4@example.org",
        "lead-5la@example.org",
        "lead-5nt@example.org",
    ]
    row = await pool.fetchrow(
        "SELECT * FROM notifications WHERE recipient = 'lead-5a4@example.org'"
    )
    assert row["organisation_id"] == "5A4"
    assert row["status"] == "pending"
    assert row["caused_by_type"] == "bulletin"
    assert row["recipient_name"] == "Lead 5A4"
    assert json.loads(row["context"]) == {
        "subject": "Mapping opens",
        "paragraphs": [
            ["The 2009-10 mapping opens on 2 November."],
            ["Please check your services."],
        ],
        "name": "Lead 5A4",
        "organisation_name": "Anytown PCT",
    }


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (BulletinFilter(regions=["london"]), ["00AG", "5LA"]),
        (BulletinFilter(kinds=["pct"]), ["5A4", "5LA", "5NT"]),
        (BulletinFilter(regions=["north-west"], kinds=["local-authority"]), ["00BN"]),
        (BulletinFilter(regions=["london", "north-west"], kinds=["pct"]), ["5A4", "5LA", "5NT"]),
        (BulletinFilter(organisation_ids=["5NT", "00AG"]), ["00AG", "5NT"]),
        (BulletinFilter(regions=["london"], organisation_ids=["5NT", "00AG"]), ["00AG"]),
    ],
)
async def test_filters_pick_leads_by_region_kind_and_organisation(
    pool: asyncpg.Pool, bulletins: Bulletins, audience: BulletinFilter, expected: list[str]
) -> None:
    published = await bulletins.publish("News", BODY, audience, "user:admin")
    assert published["recipients"] == len(expected)
    got = await pool.fetch(
        "SELECT organisation_id FROM notifications WHERE caused_by = $1 ORDER BY organisation_id",
        f"bulletin/{published['id']}",
    )
    assert [r["organisation_id"] for r in got] == sorted(expected)
    stored = await pool.fetchrow("SELECT * FROM bulletins WHERE id = $1", published["id"])
    assert stored["recipients"] == len(expected)
    assert json.loads(stored["filter"]) == audience.as_dict()


async def test_one_email_per_lead_and_per_bulletin(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    # One person leading two organisations (the address in another case) gets one copy.
    await pool.execute(
        "UPDATE leads SET email = 'Lead-5A4@Example.org' WHERE organisation_id = '5NT'"
    )
    first = await bulletins.publish("One", BODY, BulletinFilter(kinds=["pct"]), "user:admin")
    assert first["recipients"] == 2
    assert len(await recipients(pool, first["id"])) == 2
    # A second bulletin is a second email to each.
    second = await bulletins.publish("Two", BODY, BulletinFilter(kinds=["pct"]), "user:admin")
    assert second["id"] != first["id"]
    assert second["recipients"] == 2
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 4
    assert await pool.fetchval("SELECT count(DISTINCT dedupe_key) FROM notifications") == 4


@pytest.mark.parametrize(
    ("subject", "body", "audience", "field"),
    [
        ("", BODY, None, "subject"),
        ("   ", BODY, None, "subject"),
        ("News", "", None, "body"),
        ("News", " \n\n ", None, "body"),
        ("News", BODY, BulletinFilter(regions=["narnia"]), "filter.regions"),
        ("News", BODY, BulletinFilter(kinds=["pct", "castle"]), "filter.kinds"),
        ("News", BODY, BulletinFilter(organisation_ids=["NOPE"]), "filter.organisation_ids"),
        ("News", BODY, BulletinFilter(organisation_ids=["RRK"]), "filter"),  # no lead
    ],
)
async def test_refused_naming_the_field_and_nothing_recorded(
    pool: asyncpg.Pool,
    bulletins: Bulletins,
    subject: str,
    body: str,
    audience: BulletinFilter | None,
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await bulletins.publish(subject, body, audience, "user:admin")
    assert refused.value.details[0]["field"] == field
    assert await pool.fetchval("SELECT count(*) FROM bulletins") == 0
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 0


async def test_list_newest_first_with_delivery(pool: asyncpg.Pool, bulletins: Bulletins) -> None:
    clock = bulletins.clock
    assert isinstance(clock, FixedClock)
    first = await bulletins.publish("November", BODY, None, "user:ada")
    clock.set(datetime(2010, 1, 4, 10, tzinfo=UTC))
    second = await bulletins.publish("January", BODY, BulletinFilter(regions=["london"]), "user:b")
    # The sender delivered one and gave up on another.
    await pool.execute(
        "UPDATE notifications SET status = 'sent' WHERE caused_by = $1 "
        "AND recipient = 'lead-5la@example.org'",
        f"bulletin/{second['id']}",
    )
    await pool.execute(
        "UPDATE notifications SET status = 'failed' WHERE caused_by = $1 "
        "AND recipient = 'lead-00ag@example.org'",
        f"bulletin/{second['id']}",
    )
    listed = await bulletins.list()
    assert [b["id"] for b in listed] == [second["id"], first["id"]]
    assert listed[0] == {
        "id": second["id"],
        "subject": "January",
        "body": BODY,
        "filter": {"regions": ["london"], "kinds": [], "organisation_ids": []},
        "status": "sent",
        "send_at": None,
        "recipients": 2,
        "delivery": {"pending": 0, "sent": 1, "failed": 1},
        "created_at": "2010-01-04T10:00:00+00:00",
        "created_by": "user:b",
        "sent_at": "2010-01-04T10:00:00+00:00",
        "sent_by": "user:b",
        "cancelled_at": None,
        "cancelled_by": None,
    }
    assert listed[1]["delivery"] == {"pending": 5, "sent": 0, "failed": 0}
    assert listed[1]["created_by"] == "user:ada"


# --- the email -------------------------------------------------------------------------------


def test_paragraphs_split_on_blank_lines() -> None:
    text = "\r\nFirst line\r\nsame paragraph\r\n\r\n\r\nSecond\n \nThird  \n\n"
    assert paragraphs(text) == [["First line", "same paragraph"], ["Second"], ["Third"]]


async def test_the_template_renders_paragraphs_safely(
    pool: asyncpg.Pool, bulletins: Bulletins
) -> None:
    body = "Hello <b>all</b> & welcome.\nSecond line.\n\n<script>alert(1)</script>"
    published = await bulletins.publish(
        "Mapping <news>", body, BulletinFilter(organisation_ids=["5A4"]), "user:admin"
    )
    context = json.loads(
        await pool.fetchval(
            "SELECT context FROM notifications WHERE caused_by = $1",
            f"bulletin/{published['id']}",
        )
    )
    email = render("bulletin", context)
    assert email.subject == "Mapping <news>"
    assert email.text.startswith("Dear Lead 5A4,\n\n")
    assert "Hello <b>all</b> & welcome.\nSecond line.\n\n<script>alert(1)</script>\n" in email.text
    assert "mapping lead of Anytown PCT" in email.text
    assert "<p>Hello &lt;b&gt;all&lt;/b&gt; &amp; welcome.<br>\nSecond line.</p>" in email.html
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in email.html
    assert "<script>" not in email.html
    assert "<title>Mapping &lt;news&gt;</title>" in email.html


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


async def test_publish_and_list_over_http(
    pool: asyncpg.Pool, client: httpx.AsyncClient, auth_keys: Any
) -> None:
    admin = auth_keys.headers("national-admin")
    created = await client.post(
        "/bulletins",
        json={"subject": "News", "body": BODY, "filter": {"kinds": ["local-authority"]}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["recipients"] == 2
    assert await recipients(pool, created.json()["id"]) == [
        "lead-00ag@example.org",
        "lead-00bn@example.org",
    ]
    everyone = await client.post("/bulletins", json={"subject": "All", "body": BODY}, headers=admin)
    assert everyone.status_code == 201
    assert everyone.json()["recipients"] == 5

    listed = await client.get("/bulletins", headers=auth_keys.headers("auditor"))
    assert listed.status_code == 200
    assert [b["subject"] for b in listed.json()] == ["All", "News"]
    assert listed.json()[1]["created_by"] == created.json()["created_by"]


async def test_bad_bulletins_and_roles_over_http(
    pool: asyncpg.Pool, client: httpx.AsyncClient, auth_keys: Any
) -> None:
    admin = auth_keys.headers("national-admin")
    for payload, field in [
        ({"subject": "", "body": BODY}, "subject"),
        ({"subject": "News", "body": "  "}, "body"),
        ({"subject": "News", "body": BODY, "filter": {"regions": ["mars"]}}, "filter.regions"),
        ({"subject": "News", "body": BODY, "filter": {"kinds": ["castle"]}}, "filter.kinds"),
        ({"subject": "News"}, "body"),
        ({"subject": "News", "body": BODY, "filter": {"towns": ["x"]}}, "filter.towns"),
    ]:
        refused = await client.post("/bulletins", json=payload, headers=admin)
        assert refused.status_code == 422, (payload, refused.text)
        assert refused.json()["details"][0]["field"] == field, payload
    assert (
        "mars"
        in (
            await client.post(
                "/bulletins",
                json={"subject": "News", "body": BODY, "filter": {"regions": ["mars"]}},
                headers=admin,
            )
        ).json()["error"]
    )

    ok = {"subject": "News", "body": BODY}
    assert (await client.post("/bulletins", json=ok)).status_code == 401
    for role in ("auditor", "mapping-lead", "regulator", "group-owner"):
        forbidden = await client.post("/bulletins", json=ok, headers=auth_keys.headers(role))
        assert forbidden.status_code == 403, role
    for role in ("mapping-lead", "regulator"):
        assert (await client.get("/bulletins", headers=auth_keys.headers(role))).status_code == 403
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 0
