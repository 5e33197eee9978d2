"""The real registration app over real PostgreSQL and the real broker, driven in-process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import string
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from csm_contracts import Topics
from csm_kernel.settings import ServiceSettings
from registration.bootstrap import build_app

pytestmark = pytest.mark.infra

_ALPHABET = string.ascii_uppercase + string.digits
_used_codes: set[str] = set()
MISSING = object()


def fresh_code() -> str:
    """A code no other test (in this run or on the shared topic) is likely to use."""
    while True:
        code = "Z" + "".join(random.choices(_ALPHABET, k=3))
        if code not in _used_codes:
            _used_codes.add(code)
            return code


def body(code: str, **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": code,
        "name": "Leeds Community Healthcare",
        "kind": "nhs-trust-community",
        "region": "yorkshire-and-the-humber",
        "partnership_areas": ["LA383"],
    }
    out.update(overrides)
    return out


@dataclass
class Service:
    client: httpx.AsyncClient
    dsn: str
    bootstrap: str


SHUTDOWN_SECONDS = 5


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan; shutting down must not hang (see `test_shutdown_completes_promptly`)."""
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        yield
    finally:
        async with asyncio.timeout(SHUTDOWN_SECONDS):
            await lifespan.__aexit__(None, None, None)


ADMIN_ID = "national-admin-1"


def make_app(dsn: str, bootstrap: str, auth_keys: Any) -> FastAPI:
    return build_app(
        ServiceSettings(
            database_url=dsn,
            kafka_bootstrap=bootstrap,
            auth_public_key_file=auth_keys.public_file,
        )
    )


def make_client(app: FastAPI, auth_keys: Any) -> httpx.AsyncClient:
    """A client signed in as a national admin (the role that registers organisations)."""
    token = auth_keys.token("national-admin", user_id=ADMIN_ID)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://t",
        timeout=30,
        headers={"authorization": f"Bearer {token}"},
    )


@pytest.fixture(scope="module")
async def service(infra: Any, auth_keys: Any) -> AsyncIterator[Service]:
    dsn = await infra.create_database("reg")
    app = make_app(dsn, infra.bootstrap, auth_keys)
    async with running(app), make_client(app, auth_keys) as client:
        yield Service(client=client, dsn=dsn, bootstrap=infra.bootstrap)


@pytest.fixture
async def db(service: Service) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(service.dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def test_register_returns_201_and_echoes_the_organisation(service: Service) -> None:
    code = fresh_code()

    response = await service.client.post("/organisations", json=body(code))

    assert response.status_code == 201, response.text
    assert response.json() == {
        "code": code,
        "name": "Leeds Community Healthcare",
        "kind": "nhs-trust-community",
        "region": "yorkshire-and-the-humber",
        "partnership_areas": ["LA383"],
        "linked_organisation_id": None,
        "mapped_by": None,
        "version": 1,
    }
    assert response.headers["etag"] == '"1"'


async def test_get_returns_the_registered_organisation(service: Service) -> None:
    code = fresh_code()
    created = await service.client.post(
        "/organisations", json=body(code, name="Bradford District", region="north-east")
    )
    assert created.status_code == 201, created.text

    response = await service.client.get(f"/organisations/{code}")

    assert response.status_code == 200, response.text
    assert response.json() == created.json()
    assert response.json()["name"] == "Bradford District"
    assert response.json()["region"] == "north-east"


async def test_get_of_an_unknown_code_is_404(service: Service) -> None:
    code = fresh_code()

    response = await service.client.get(f"/organisations/{code}")

    assert response.status_code == 404
    payload = response.json()
    assert isinstance(payload["error"], str)
    assert code in payload["error"]


async def test_registering_a_taken_code_is_409_and_changes_nothing(
    service: Service, db: asyncpg.Connection
) -> None:
    code = fresh_code()
    first = await service.client.post("/organisations", json=body(code))
    assert first.status_code == 201, first.text

    again = await service.client.post("/organisations", json=body(code, name="Impostor Trust"))

    assert again.status_code == 409
    assert code in again.json()["error"]
    assert (await service.client.get(f"/organisations/{code}")).json()["name"] == (
        "Leeds Community Healthcare"
    )
    assert await db.fetchval("SELECT count(*) FROM events WHERE key = $1", code) == 1


async def test_concurrent_registrations_of_one_code_exactly_one_wins(
    service: Service, db: asyncpg.Connection
) -> None:
    code = fresh_code()

    responses = await asyncio.gather(
        *(service.client.post("/organisations", json=body(code, name=f"T{i}")) for i in range(5))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409], [r.text for r in responses]
    assert await db.fetchval("SELECT count(*) FROM events WHERE key = $1", code) == 1


async def test_malformed_json_is_422(service: Service) -> None:
    response = await service.client.post(
        "/organisations",
        content=b'{"code": "ZAB1", "name": ',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    payload = response.json()
    assert payload["error"]
    assert payload["details"]
    assert all(d["reason"] for d in payload["details"])


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("code", {"code": "zab1"}),
        ("code", {"code": "ZABCDE"}),
        ("code", {"code": "123"}),
        ("code", {"code": "ZA"}),
        ("kind", {"kind": "hospital"}),
        ("region", {"region": "wales"}),
        ("name", {"name": ""}),
        ("name", {"name": MISSING}),
        ("partnership_areas.0", {"partnership_areas": ["la383"]}),
        ("partnership_areas.1", {"partnership_areas": ["LA383", "123"]}),
        ("linked_organisation_id", {"linked_organisation_id": "TOOLONG"}),
    ],
    ids=[
        "lowercase-code",
        "six-char-code",
        "all-digit-code",
        "two-char-code",
        "unknown-kind",
        "unknown-region",
        "empty-name",
        "missing-name",
        "bad-partnership-area",
        "all-digit-partnership-area",
        "bad-linked-organisation",
    ],
)
async def test_each_invalid_field_is_422_naming_the_field(
    service: Service, field: str, change: dict[str, Any]
) -> None:
    code = fresh_code()
    request = body(code)
    request.update(change)
    request = {k: v for k, v in request.items() if v is not MISSING}

    response = await service.client.post("/organisations", json=request)

    assert response.status_code == 422, response.text
    payload = response.json()
    assert isinstance(payload["error"], str)
    assert field in payload["error"]
    matching = [d for d in payload["details"] if d["field"] == field]
    assert matching, payload["details"]
    assert all(isinstance(d["reason"], str) and d["reason"].strip() for d in matching)
    # Nothing was registered.
    assert (await service.client.get(f"/organisations/{code}")).status_code == 404


async def test_linking_an_organisation_to_itself_is_refused(
    service: Service, db: asyncpg.Connection
) -> None:
    code = fresh_code()

    response = await service.client.post(
        "/organisations", json=body(code, linked_organisation_id=code)
    )

    assert response.status_code == 422, response.text
    assert "itself" in response.json()["error"]
    assert response.json()["details"][0]["field"] == "linked_organisation_id"
    assert await db.fetchval("SELECT count(*) FROM events WHERE key = $1", code) == 0


async def test_the_event_is_stored_with_the_callers_actor_and_correlation(
    service: Service, db: asyncpg.Connection
) -> None:
    code = fresh_code()

    response = await service.client.post(
        "/organisations",
        json=body(code),
        headers={"x-correlation-id": f"corr-{code}"},
    )
    assert response.status_code == 201, response.text

    rows = await db.fetch(
        "SELECT type, key, actor, stream_id, stream_version, correlation_id, data "
        "FROM events WHERE key = $1",
        code,
    )
    assert len(rows) == 1
    (row,) = rows
    assert row["type"] == "registration.OrganisationRegistered"
    assert row["key"] == code
    assert row["actor"] == f"user:{ADMIN_ID}"  # the signed-in caller, from the token
    assert row["stream_id"] == f"organisation-{code}"
    assert row["stream_version"] == 1
    assert row["correlation_id"] == f"corr-{code}"
    assert json.loads(row["data"])["code"] == code


async def test_registering_needs_a_national_admin(service: Service, auth_keys: Any) -> None:
    code = fresh_code()
    anonymous = await service.client.post(
        "/organisations", json=body(code), headers={"authorization": ""}
    )
    assert anonymous.status_code == 401
    forged = await service.client.post(
        "/organisations", json=body(code), headers={"authorization": "Bearer not-a-token"}
    )
    assert forged.status_code == 401
    lead = await service.client.post(
        "/organisations", json=body(code), headers=auth_keys.headers("mapping-lead", org="5A4")
    )
    assert lead.status_code == 403
    assert (await service.client.get(f"/organisations/{code}")).status_code == 404


async def test_a_lead_sees_only_their_own_organisation(service: Service, auth_keys: Any) -> None:
    mine, theirs = fresh_code(), fresh_code()
    for code in (mine, theirs):
        assert (await service.client.post("/organisations", json=body(code))).status_code == 201
    lead = auth_keys.headers("mapping-lead", org=mine)
    assert (await service.client.get(f"/organisations/{mine}", headers=lead)).status_code == 200
    other = await service.client.get(f"/organisations/{theirs}", headers=lead)
    assert other.status_code == 404  # not 403: nobody learns what exists elsewhere


async def _find_published(bootstrap: str, subject: str, timeout: float = 30) -> Any:
    """The first record on the registration topic whose ce_subject is `subject`, or None."""
    consumer = AIOKafkaConsumer(
        Topics.REGISTRATION,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if headers.get("ce_subject") == subject:
                        return record
        return None
    finally:
        await consumer.stop()


async def test_the_relay_publishes_the_event_to_the_registration_topic(
    service: Service, db: asyncpg.Connection
) -> None:
    code = fresh_code()
    response = await service.client.post("/organisations", json=body(code))
    assert response.status_code == 201, response.text
    event_id = await db.fetchval("SELECT event_id FROM events WHERE key = $1", code)

    record = await _find_published(service.bootstrap, f"organisation-{code}")

    assert record is not None, f"organisation-{code} was not published within 30 s"
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["ce_type"] == "registration.OrganisationRegistered"
    assert headers["ce_id"] == str(event_id)
    assert headers["ce_actor"] == f"user:{ADMIN_ID}"
    assert headers["ce_source"] == "/csm/registration"
    assert record.key == code.encode()
    assert b'"code":"' + code.encode() + b'"' in record.value


async def test_shutdown_completes_promptly(infra: Any, auth_keys: Any) -> None:
    dsn = await infra.create_database("reg")
    app = make_app(dsn, infra.bootstrap, auth_keys)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    pool = app.state.runtime.pool
    try:
        async with make_client(app, auth_keys) as client:
            response = await client.post("/organisations", json=body(fresh_code()))
            assert response.status_code == 201, response.text

        await asyncio.wait_for(lifespan.__aexit__(None, None, None), SHUTDOWN_SECONDS)

        assert pool.is_closing()
        assert pool.get_size() == 0
    finally:
        pool.terminate()
