"""The directory of services through the real registration app, on real PostgreSQL and the
real broker: every endpoint's roles, bad input, 409 on stale edits, search, carry-forward (by
the endpoint and by a `questionnaire.CycleOpened` event on Kafka), bulk import, and the 409
while a return is signed off (`questionnaire.CycleSignedOff`/`ReturnReopened` on Kafka)."""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from csm_contracts import Topics
from csm_contracts.cloudevents import encode
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.cycles import ReturnReopened
from csm_contracts.events.questionnaire import CycleOpened, CycleSignedOff
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from registration.adapters import directory_pg
from registration.application.directory import record_reopening, record_sign_off
from registration.domain.service_record import carried_forward_id

pytestmark = pytest.mark.infra

_ALPHABET = string.ascii_uppercase + string.digits
_used: set[str] = set()


def fresh_code() -> str:
    while True:
        code = "D" + "".join(random.choices(_ALPHABET, k=3))
        if code not in _used:
            _used.add(code)
            return code


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    bootstrap: str
    keys: Any

    def as_(self, role: str, org: str | None = None, group: str | None = None) -> dict[str, str]:
        return self.keys.headers(role, org=org, group=group)

    @property
    def admin(self) -> dict[str, str]:
        return self.keys.headers("national-admin")

    async def organisation(self, *areas: str) -> str:
        """A registered organisation (appended straight to the service's event store)."""
        code = fresh_code()
        event = OrganisationRegistered(
            organisation_id=code,
            code=code,
            name=f"Organisation {code}",
            kind="pct",
            region="london",
            partnership_areas=list(areas),
        )
        store = self.app.state.runtime.require_store()
        await store.append(
            f"organisation-{code}", 0, [NewEvent.from_payload(event)], AppendContext("test")
        )
        return code

    async def group(self, organisation: str, name: str) -> str:
        """A service group of `organisation` (as the accounts feature defines them)."""
        group_id = f"{name}-{organisation}"
        pool = self.app.state.runtime.require_pool()
        await pool.execute(
            "INSERT INTO service_groups (group_id, organisation_id, name, kind) "
            "VALUES ($1, $2, $3, 'locality') ON CONFLICT DO NOTHING",
            group_id,
            organisation,
            name,
        )
        return group_id

    async def create(self, headers: dict[str, str] | None = None, **overrides: Any) -> dict:
        response = await self.client.post(
            "/directory/services", json=service(**overrides), headers=headers or self.admin
        )
        assert response.status_code == 201, response.text
        return response.json()


def service(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cycle": "2009-10",
        "name": "Speech and language therapy",
        "description": "Assessment and therapy for children with speech and language needs.",
        "service_type": "targeted",
        "client_group": {"age_min": 2, "age_max": 11, "needs": ["speech and language"]},
        "provider_id": "5A4",
        "commissioner_ids": [],
        "contact": {"name": "Pat Jones", "email": "pat@example.nhs.uk", "phone": "0161 555 0101"},
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
async def api(registration_app: Any, infra: Any, auth_keys: Any) -> AsyncIterator[Api]:
    async with registration_app("dir") as running:
        yield Api(running.app, running.client, running.dsn, infra.bootstrap, auth_keys)


@pytest.fixture
async def db(api: Api) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(api.dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def orgs(api: Api) -> dict[str, str]:
    """A provider and a commissioner in area LA1, and an unrelated organisation elsewhere."""
    return {
        "provider": await api.organisation("LA1"),
        "commissioner": await api.organisation("LA1", "LA2"),
        "other": await api.organisation("LA9"),
    }


# --- create, get, history ---------------------------------------------------------------


async def test_a_lead_registers_a_service_of_their_organisation(
    api: Api, orgs: dict[str, str], db: asyncpg.Connection
) -> None:
    p, c = orgs["provider"], orgs["commissioner"]
    response = await api.client.post(
        "/directory/services",
        json=service(provider_id=p, commissioner_ids=[c], camhs=True, camhs_tier=2),
        headers=api.as_("mapping-lead", org=p),
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1 and body["status"] == "active" and body["cycle"] == "2009-10"
    assert body["client_group"] == {"age_min": 2, "age_max": 11, "needs": ["speech and language"]}
    assert (body["camhs"], body["camhs_tier"]) == (True, 2)
    assert body["contact"]["email"] == "pat@example.nhs.uk"
    sid = body["service_id"]
    event = await db.fetchrow("SELECT * FROM events WHERE stream_id = $1", f"service-{sid}")
    assert event["type"] == "registration.ServiceRegistered"
    assert event["key"] == p and event["actor"].startswith("user:")
    row = await db.fetchrow("SELECT * FROM directory_services WHERE service_id = $1", sid)
    assert row["areas"] == ["LA1"] and row["organisation_ids"] == [p, c]
    got = await api.client.get(f"/directory/services/{sid}", headers=api.as_("auditor"))
    assert got.status_code == 200 and got.json() == body


async def test_the_commissioners_lead_sees_it_too_and_others_get_404(
    api: Api, orgs: dict[str, str]
) -> None:
    created = await api.create(
        provider_id=orgs["provider"], commissioner_ids=[orgs["commissioner"]]
    )
    sid = created["service_id"]
    for path in ("", "/history", "/changes-since-last-year"):
        url = f"/directory/services/{sid}{path}"
        mine = await api.client.get(url, headers=api.as_("mapping-lead", org=orgs["commissioner"]))
        assert mine.status_code == 200, (path, mine.text)
        theirs = await api.client.get(url, headers=api.as_("mapping-lead", org=orgs["other"]))
        assert theirs.status_code == 404, (path, theirs.text)
    unknown = await api.client.get(f"/directory/services/{uuid.uuid4()}", headers=api.admin)
    assert unknown.status_code == 404


async def test_history_lists_every_event_of_the_record(api: Api, orgs: dict[str, str]) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]
    revised = await api.client.patch(
        f"/directory/services/{sid}",
        json={"expected_version": 1, "name": "SALT", "client_group": {"age_max": 13}},
        headers=api.admin,
    )
    assert revised.status_code == 200, revised.text
    withdrawn = await api.client.post(
        f"/directory/services/{sid}/withdraw",
        json={"expected_version": 2, "reason": "merged into the community service"},
        headers=api.admin,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"

    history = (await api.client.get(f"/directory/services/{sid}/history", headers=api.admin)).json()

    assert [(e["version"], e["type"]) for e in history["events"]] == [
        (1, "registration.ServiceRegistered"),
        (2, "registration.ServiceRevised"),
        (3, "registration.ServiceWithdrawn"),
    ]
    assert history["events"][1]["data"]["changes"] == [
        {"field": "name", "old": "Speech and language therapy", "new": "SALT"},
        {"field": "client_group.age_max", "old": 11, "new": 13},
    ]
    assert history["events"][2]["data"]["reason"] == "merged into the community service"


# --- roles ------------------------------------------------------------------------------


async def _every_endpoint(api: Api, sid: str, provider: str) -> list[tuple[str, str, Any]]:
    """(method, url, json body) of every directory endpoint, aimed at one record."""
    return [
        ("POST", "/directory/services", service(provider_id=provider)),
        ("GET", "/directory/services", None),
        ("POST", "/directory/services/import", None),
        ("GET", f"/directory/services/{sid}", None),
        ("PATCH", f"/directory/services/{sid}", {"expected_version": 1, "name": "X"}),
        ("POST", f"/directory/services/{sid}/withdraw", {"expected_version": 1, "reason": "r"}),
        ("POST", f"/directory/services/{sid}/confirm", {"expected_version": 1}),
        ("GET", f"/directory/services/{sid}/history", None),
        ("GET", f"/directory/services/{sid}/changes-since-last-year", None),
        ("POST", "/directory/cycles/2030-31/carry-forward", None),
    ]


async def _call(api: Api, method: str, url: str, body: Any, headers: dict[str, str]) -> int:
    content = json.dumps(service()).encode() if url.endswith("/import") else None
    response = await api.client.request(method, url, json=body, content=content, headers=headers)
    return response.status_code


async def test_every_endpoint_needs_a_valid_token(api: Api, orgs: dict[str, str]) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]
    for method, url, body in await _every_endpoint(api, sid, orgs["provider"]):
        assert await _call(api, method, url, body, {}) == 401, (method, url)
        forged = {"authorization": "Bearer not-a-token"}
        assert await _call(api, method, url, body, forged) == 401, (method, url)


async def test_a_regulator_has_no_access_to_the_directory(api: Api, orgs: dict[str, str]) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]
    regulator = api.as_("regulator")
    for method, url, body in await _every_endpoint(api, sid, orgs["provider"]):
        assert await _call(api, method, url, body, regulator) == 403, (method, url)


async def test_an_auditor_reads_all_and_changes_nothing(api: Api, orgs: dict[str, str]) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]
    auditor = api.as_("auditor")
    for method, url, body in await _every_endpoint(api, sid, orgs["provider"]):
        expected = 200 if method == "GET" else 403
        assert await _call(api, method, url, body, auditor) == expected, (method, url)


async def test_a_lead_acts_on_their_records_and_gets_404_for_others(
    api: Api, orgs: dict[str, str], db: asyncpg.Connection
) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]
    other = api.as_("mapping-lead", org=orgs["other"])
    for method, url, body in await _every_endpoint(api, sid, orgs["provider"]):
        status = await _call(api, method, url, body, other)
        if url.startswith("/directory/services/"):
            if url.endswith("/import"):
                assert status == 422  # another organisation's service: a bad line
            else:
                assert status == 404, (method, url)
        elif method == "POST" and url == "/directory/services":
            assert status == 403  # registering another organisation's service
        elif "carry-forward" in url:
            assert status == 403
        else:
            assert status == 200  # search: sees only their own (none here)
    assert (
        await db.fetchval(
            "SELECT version FROM directory_services WHERE service_id = $1", uuid.UUID(sid)
        )
        == 1
    )
    mine = api.as_("mapping-lead", org=orgs["provider"])
    revised = await api.client.patch(
        f"/directory/services/{sid}", json={"expected_version": 1, "name": "Mine"}, headers=mine
    )
    assert revised.status_code == 200, revised.text


async def test_a_group_owner_acts_only_on_their_groups_records(
    api: Api, orgs: dict[str, str]
) -> None:
    p = orgs["provider"]
    north, south = await api.group(p, "north"), await api.group(p, "south")
    owner = api.as_("group-owner", org=p, group=north)
    in_group = await api.client.post(
        "/directory/services", json=service(provider_id=p, group_id=north), headers=owner
    )
    assert in_group.status_code == 201, in_group.text
    elsewhere = await api.client.post(
        "/directory/services", json=service(provider_id=p, group_id=south), headers=owner
    )
    assert elsewhere.status_code == 403
    south_record = await api.create(provider_id=p, group_id=south)
    assert (
        await api.client.get(f"/directory/services/{south_record['service_id']}", headers=owner)
    ).status_code == 404
    sid = in_group.json()["service_id"]
    moved = await api.client.patch(
        f"/directory/services/{sid}",
        json={"expected_version": 1, "group_id": south},
        headers=owner,
    )
    assert moved.status_code == 403
    renamed = await api.client.patch(
        f"/directory/services/{sid}", json={"expected_version": 1, "name": "North"}, headers=owner
    )
    assert renamed.status_code == 200, renamed.text
    found = (await api.client.get("/directory/services", headers=owner)).json()
    assert [i["service_id"] for i in found["items"]] == [sid]


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "change", "words"),
    [
        ("contact.email", {"contact": {"name": "Pat", "email": "pat.example.org"}}, "email"),
        ("client_group.age_min", {"client_group": {"age_min": 12, "age_max": 4}}, "greater"),
        ("client_group.age_max", {"client_group": {"age_min": 1, "age_max": 30}}, "0 to 25"),
        ("client_group.age_min", {"client_group": {"age_min": "ten", "age_max": 4}}, "integer"),
        ("camhs_tier", {"camhs_tier": 2}, "only for a CAMHS service"),
        ("camhs_tier", {"camhs": True, "camhs_tier": 5}, "not a CAMHS tier"),
        ("camhs_tier", {"camhs": True}, "needs its tier"),
        ("provider_id", {"provider_id": "NOPE"}, "no organisation with code NOPE"),
        ("group_id", {"group_id": "nowhere"}, "not a service group of the provider"),
        ("commissioner_ids.0", {"commissioner_ids": ["QQQ9"]}, "no organisation with code QQQ9"),
        ("provider_id", {"provider_id": "bad code"}, "not an organisation code"),
        ("cycle", {"cycle": "2009-11"}, "not a cycle"),
        ("service_type", {"service_type": "occasional"}, "universal"),
        ("colour", {"colour": "blue"}, "not permitted"),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_the_reason(
    api: Api, orgs: dict[str, str], db: asyncpg.Connection, field: str, change: dict, words: str
) -> None:
    body = service(provider_id=orgs["provider"])
    body.update(change)
    before = await db.fetchval("SELECT count(*) FROM events")

    response = await api.client.post("/directory/services", json=body, headers=api.admin)

    assert response.status_code == 422, response.text
    reasons = [d["reason"] for d in response.json()["details"] if d["field"] == field]
    assert reasons, response.json()
    assert any(words in r for r in reasons), reasons
    assert field in response.json()["error"]
    assert await db.fetchval("SELECT count(*) FROM events") == before


async def test_bad_revisions_are_422(api: Api, orgs: dict[str, str]) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]
    url = f"/directory/services/{sid}"
    cases = [
        ({"client_group": {"age_min": 15}}, "client_group.age_min"),
        ({"contact": {"email": "nobody"}}, "contact.email"),
        ({"camhs_tier": 3}, "camhs_tier"),
        ({"commissioner_ids": ["NOPE9"]}, "commissioner_ids.0"),
        ({"provider_id": orgs["other"]}, "provider_id"),
        ({"name": None}, "name"),
        ({"contact": None}, "contact"),
        ({"service_type": None}, "service_type"),
        ({"cycle": "2010-11"}, "cycle"),
    ]
    for change, field in cases:
        response = await api.client.patch(
            url, json={"expected_version": 1, **change}, headers=api.admin
        )
        assert response.status_code == 422, (change, response.text)
        assert field in [d["field"] for d in response.json()["details"]], response.json()
    assert (await api.client.get(url, headers=api.admin)).json()["version"] == 1


# --- concurrency ------------------------------------------------------------------------


async def test_a_stale_edit_is_409_reload_and_nothing_is_lost(
    api: Api, orgs: dict[str, str]
) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]
    url = f"/directory/services/{sid}"
    first = await api.client.patch(
        url, json={"expected_version": 1, "name": "First writer"}, headers=api.admin
    )
    assert first.status_code == 200 and first.json()["version"] == 2

    second = await api.client.patch(
        url, json={"expected_version": 1, "description": "Second writer"}, headers=api.admin
    )

    assert second.status_code == 409, second.text
    assert "reload" in second.json()["error"]
    now = (await api.client.get(url, headers=api.admin)).json()
    assert (now["version"], now["name"]) == (2, "First writer")
    assert now["description"] == service()["description"]
    for stale in (
        ("POST", f"{url}/withdraw", {"expected_version": 1, "reason": "r"}),
        ("POST", f"{url}/confirm", {"expected_version": 1}),
    ):
        response = await api.client.request(stale[0], stale[1], json=stale[2], headers=api.admin)
        assert response.status_code == 409, response.text


async def test_concurrent_edits_of_one_record_exactly_one_wins(
    api: Api, orgs: dict[str, str], db: asyncpg.Connection
) -> None:
    sid = (await api.create(provider_id=orgs["provider"]))["service_id"]

    responses = await asyncio.gather(
        *(
            api.client.patch(
                f"/directory/services/{sid}",
                json={"expected_version": 1, "name": f"Writer {i}"},
                headers=api.admin,
            )
            for i in range(6)
        )
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    winner = next(r.json()["name"] for r in responses if r.status_code == 200)
    assert (
        await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", f"service-{sid}") == 2
    )
    row = await db.fetchrow(
        "SELECT name, version FROM directory_services WHERE service_id = $1", uuid.UUID(sid)
    )
    assert (row["name"], row["version"]) == (winner, 2)


# --- search -----------------------------------------------------------------------------


async def test_search_filters_paginates_and_counts(api: Api) -> None:
    area, elsewhere = f"A{fresh_code()}", f"B{fresh_code()}"
    p = await api.organisation(area)
    (west,) = (await api.group(p, "west"),)
    q = await api.organisation(elsewhere)
    cycle = "2001-02"
    word = f"zq{uuid.uuid4().hex[:8]}"  # a word only these records contain
    made = {
        "salt": await api.create(
            provider_id=p, cycle=cycle, name=f"Speech therapy {word}", group_id=west
        ),
        "camhs": await api.create(
            provider_id=p,
            cycle=cycle,
            name=f"Community CAMHS {word}",
            description="Specialist mental health support for young people",
            service_type="specialist",
            camhs=True,
            camhs_tier=3,
            client_group={"age_min": 11, "age_max": 18, "needs": ["self-harm"]},
        ),
        "visits": await api.create(
            provider_id=q,
            cycle=cycle,
            name=f"Health visiting {word}",
            description="Home visits to families with babies and young children",
            service_type="universal",
            client_group={"age_min": 0, "age_max": 5, "needs": []},
        ),
    }
    ids = {k: v["service_id"] for k, v in made.items()}

    async def found(**params: Any) -> list[str]:
        response = await api.client.get(
            "/directory/services", params={"cycle": cycle, **params}, headers=api.admin
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"]) and body["total_is_exact"] is True
        return sorted(k for k, v in ids.items() if v in {i["service_id"] for i in body["items"]})

    assert await found(area=area) == ["camhs", "salt"]
    assert await found(area=elsewhere) == ["visits"]
    assert await found(locality=west) == ["salt"]
    assert await found(type="universal") == ["visits"]
    assert await found(tier=3) == ["camhs"]
    assert await found(age=4) == ["salt", "visits"]
    assert await found(age=15) == ["camhs"]
    assert await found(q=word) == ["camhs", "salt", "visits"]
    assert await found(q=f"{word} mental") == ["camhs"]
    assert await found(q="self-harm") == ["camhs"]
    assert await found(q=f"{word} therapies") == ["salt"]  # stemmed
    assert await found(area=area, age=15, type="specialist") == ["camhs"]

    page = await api.client.get(
        "/directory/services",
        params={"cycle": cycle, "limit": 2, "offset": 0},
        headers=api.admin,
    )
    body = page.json()
    assert body["total"] == 3 and len(body["items"]) == 2 and body["limit"] == 2
    rest = await api.client.get(
        "/directory/services",
        params={"cycle": cycle, "limit": 2, "offset": 2},
        headers=api.admin,
    )
    names = [i["name"] for i in body["items"]] + [i["name"] for i in rest.json()["items"]]
    assert names == sorted(names) and len(set(names)) == 3

    # A lead sees only their organisation's records.
    lead = await api.client.get(
        "/directory/services", params={"cycle": cycle}, headers=api.as_("mapping-lead", org=q)
    )
    assert [i["service_id"] for i in lead.json()["items"]] == [ids["visits"]]
    assert lead.json()["total"] == 1

    # Withdrawn records leave the default search; status= finds them.
    await api.client.post(
        f"/directory/services/{ids['visits']}/withdraw",
        json={"expected_version": 1, "reason": "ended"},
        headers=api.admin,
    )
    assert await found() == ["camhs", "salt"]
    assert await found(status="withdrawn") == ["visits"]


async def test_a_very_broad_search_stops_counting_at_the_limit(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = await api.organisation("LA4")
    for name in ("Alpha", "Beta", "Gamma"):
        await api.create(provider_id=p, cycle="2002-03", name=name)
    monkeypatch.setattr(directory_pg, "TOTAL_LIMIT", 2)
    params = {"cycle": "2002-03"}

    first = await api.client.get("/directory/services", params=params, headers=api.admin)
    past = await api.client.get(
        "/directory/services", params={**params, "offset": 2}, headers=api.admin
    )

    assert (first.json()["total"], first.json()["total_is_exact"]) == (2, False)
    names = [i["name"] for i in first.json()["items"]]
    assert len(names) == 2 and names == sorted(names)
    assert (past.json()["total"], past.json()["items"]) == (2, [])
    monkeypatch.setattr(directory_pg, "TOTAL_LIMIT", 3)
    exact = await api.client.get("/directory/services", params=params, headers=api.admin)
    assert (exact.json()["total"], exact.json()["total_is_exact"]) == (3, True)
    assert [i["name"] for i in exact.json()["items"]] == ["Alpha", "Beta", "Gamma"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"age": 26}, "query.age"),
        ({"tier": 5}, "query.tier"),
        ({"type": "sometimes"}, "query.type"),
        ({"limit": 1000}, "query.limit"),
        ({"cycle": "2009-11"}, "cycle"),
    ],
)
async def test_bad_search_parameters_are_422(api: Api, params: dict, field: str) -> None:
    response = await api.client.get("/directory/services", params=params, headers=api.admin)
    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["details"]]


# --- carry-forward ----------------------------------------------------------------------


async def test_carry_forward_by_endpoint_is_idempotent_and_keeps_last_year(
    api: Api, db: asyncpg.Connection
) -> None:
    p = await api.organisation("LA7")
    old, new = "2003-04", "2004-05"
    active = await api.create(provider_id=p, cycle=old, name="Portage")
    gone = await api.create(provider_id=p, cycle=old, name="Closed service")
    await api.client.post(
        f"/directory/services/{gone['service_id']}/withdraw",
        json={"expected_version": 1, "reason": "closed"},
        headers=api.admin,
    )
    lead = api.as_("mapping-lead", org=p)
    url = f"/directory/cycles/{new}/carry-forward"
    assert (await api.client.post(url, params={"from": old}, headers=lead)).status_code == 403

    first = await api.client.post(url, params={"from": old}, headers=api.admin)
    again = await api.client.post(url, headers=api.admin)  # `from` defaults to the cycle before

    assert first.status_code == 200, first.text
    assert first.json() == {"cycle": new, "previous_cycle": old, "carried": 1, "already_carried": 0}
    assert again.json() == {"cycle": new, "previous_cycle": old, "carried": 0, "already_carried": 1}
    new_id = str(carried_forward_id(uuid.UUID(active["service_id"]), new))
    assert (
        await db.fetchval(
            "SELECT count(*) FROM events WHERE type = 'registration.ServiceCarriedForward' "
            "AND key = $1",
            p,
        )
        == 1
    )
    carried = (await api.client.get(f"/directory/services/{new_id}", headers=lead)).json()
    assert carried["status"] == "to-be-checked" and carried["cycle"] == new
    assert carried["previous_service_id"] == active["service_id"]
    assert carried["name"] == "Portage"
    listed = await api.client.get(
        "/directory/services", params={"cycle": new, "status": "to-be-checked"}, headers=lead
    )
    assert [i["service_id"] for i in listed.json()["items"]] == [new_id]
    # Last year's record is readable as it was.
    last_year = (
        await api.client.get(f"/directory/services/{active['service_id']}", headers=lead)
    ).json()
    assert last_year == active

    # The lead revises it: the change shows against last year, and it is checked.
    revised = await api.client.patch(
        f"/directory/services/{new_id}",
        json={"expected_version": 1, "client_group": {"age_max": 8}},
        headers=lead,
    )
    assert revised.status_code == 200, revised.text
    assert revised.json()["status"] == "active"
    changes = (
        await api.client.get(f"/directory/services/{new_id}/changes-since-last-year", headers=lead)
    ).json()
    assert changes["previous_service_id"] == active["service_id"]
    assert changes["previous_cycle"] == old
    assert changes["changes"] == [{"field": "client_group.age_max", "old": 11, "new": 8}]
    # Only a record to be checked is confirmed.
    confirm = await api.client.post(
        f"/directory/services/{new_id}/confirm", json={"expected_version": 2}, headers=lead
    )
    assert confirm.status_code == 409


async def test_a_carried_record_is_confirmed_by_its_lead(api: Api) -> None:
    p = await api.organisation("LA8")
    active = await api.create(provider_id=p, cycle="2005-06")
    result = await api.client.post("/directory/cycles/2006-07/carry-forward", headers=api.admin)
    assert result.json()["carried"] == 1
    new_id = carried_forward_id(uuid.UUID(active["service_id"]), "2006-07")

    response = await api.client.post(
        f"/directory/services/{new_id}/confirm",
        json={"expected_version": 1},
        headers=api.as_("mapping-lead", org=p),
    )

    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["version"]) == ("active", 2)


async def test_carry_forward_happens_when_a_cycle_opened_event_arrives_on_kafka(
    api: Api, db: asyncpg.Connection
) -> None:
    p = await api.organisation("LA6")
    old, new = "2011-12", "2012-13"
    active = await api.create(provider_id=p, cycle=old, name="Family nurse partnership")
    (envelope,) = await InMemoryEventStore().append(
        "cycle-2012-13",
        0,
        [
            NewEvent.from_payload(
                CycleOpened(cycle=new, previous_cycle=old, opened_at=datetime.now(UTC))
            )
        ],
        AppendContext(actor="service:questionnaire"),
    )
    key, value, headers = encode(envelope)
    producer = AIOKafkaProducer(bootstrap_servers=api.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(Topics.QUESTIONNAIRE, value=value, key=key, headers=headers)
        await producer.send_and_wait(Topics.QUESTIONNAIRE, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    new_id = carried_forward_id(uuid.UUID(active["service_id"]), new)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await db.fetchval(
            "SELECT count(*) FROM directory_services WHERE service_id = $1", new_id
        ):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the carry-forward did not happen within 60 s")

    await asyncio.sleep(1)  # room for the duplicate delivery to (wrongly) show up
    row = await db.fetchrow(
        "SELECT status, previous_service_id, cycle FROM directory_services WHERE service_id = $1",
        new_id,
    )
    assert (row["status"], row["cycle"]) == ("to-be-checked", new)
    assert str(row["previous_service_id"]) == active["service_id"]
    events = await db.fetch(
        "SELECT actor, causation_id FROM events WHERE stream_id = $1", f"service-{new_id}"
    )
    assert [(e["actor"], e["causation_id"]) for e in events] == [
        ("service:registration", str(envelope.event_id))
    ]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM processed_messages WHERE consumer = 'registration.directory' "
            "AND event_id = $1",
            envelope.event_id,
        )
        == 1
    )
    # The endpoint afterwards carries nothing twice.
    again = await api.client.post(
        f"/directory/cycles/{new}/carry-forward", params={"from": old}, headers=api.admin
    )
    assert again.json()["carried"] == 0


# --- bulk import ------------------------------------------------------------------------


def jsonl(*lines: dict[str, Any] | str) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()


async def test_import_loads_every_line_in_one_go(api: Api, db: asyncpg.Connection) -> None:
    p = await api.organisation("LA5")
    c = await api.organisation("LA5")
    lines = [
        service(provider_id=p, name=f"Imported {i}", commissioner_ids=[c], cycle="2007-08")
        for i in range(25)
    ]
    chosen = uuid.uuid4()
    lines[3]["service_id"] = str(chosen)

    response = await api.client.post(
        "/directory/services/import",
        content=jsonl(*lines, ""),
        headers={**api.admin, "content-type": "application/x-ndjson"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["imported"] == 25 and len(body["service_ids"]) == 25
    assert body["service_ids"][3] == str(chosen)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM directory_services WHERE provider_id = $1 AND cycle = '2007-08'",
            p,
        )
        == 25
    )
    got = await api.client.get(
        f"/directory/services/{chosen}", headers=api.as_("mapping-lead", org=c)
    )
    assert got.status_code == 200 and got.json()["name"] == "Imported 3"
    history = await api.client.get(f"/directory/services/{chosen}/history", headers=api.admin)
    assert [e["type"] for e in history.json()["events"]] == ["registration.ServiceRegistered"]


async def test_a_bad_import_writes_nothing_and_names_every_bad_line(
    api: Api, db: asyncpg.Connection
) -> None:
    p = await api.organisation("LA5")
    before = await db.fetchval("SELECT count(*) FROM events")
    content = jsonl(
        service(provider_id=p, name="fine"),
        service(provider_id=p, client_group={"age_min": 9, "age_max": 3}),
        "{not json",
        service(provider_id="NOPE1"),
        service(provider_id=p, contact={"name": "A", "email": "a-at-b"}),
        service(provider_id=p, camhs_tier=4),
        service(provider_id=p, name="also fine"),
    )

    response = await api.client.post(
        "/directory/services/import", content=content, headers=api.admin
    )

    assert response.status_code == 422, response.text
    details = response.json()["details"]
    assert [(d["line"], d["field"]) for d in details] == [
        (2, "client_group.age_min"),
        (3, "line"),
        (4, "provider_id"),
        (5, "contact.email"),
        (5, "name"),  # the same service (provider, name, cycle) as line 2
        (6, "camhs_tier"),
        (6, "name"),
    ]
    assert "nothing was imported" in response.json()["error"]
    assert await db.fetchval("SELECT count(*) FROM events") == before


async def test_an_import_repeating_an_existing_service_id_otherwise_is_refused_whole(
    api: Api, db: asyncpg.Connection
) -> None:
    p = await api.organisation("LA5")
    existing = await api.create(provider_id=p)
    before = await db.fetchval("SELECT count(*) FROM events")
    content = jsonl(
        service(provider_id=p, name="new one"),
        service(provider_id=p, name="other", service_id=existing["service_id"]),
    )
    response = await api.client.post(
        "/directory/services/import", content=content, headers=api.admin
    )
    assert response.status_code == 422, response.text
    (detail,) = response.json()["details"]
    assert (detail["line"], detail["field"]) == (2, "service_id")
    assert "registered already with other details" in detail["reason"]
    assert await db.fetchval("SELECT count(*) FROM events") == before


CSV_HEADER = (
    "cycle,provider_id,name,description,service_type,age_min,age_max,needs,camhs,camhs_tier,"
    "group_id,commissioner_ids,contact_name,contact_email,contact_phone,service_id"
)


async def test_a_csv_import_is_checked_by_a_dry_run_then_registered_once(
    api: Api, db: asyncpg.Connection
) -> None:
    p = await api.organisation("LA5")
    c = await api.organisation("LA5")
    good = (
        f"{CSV_HEADER}\r\n"
        f"2007-08,{p},Short breaks,Overnight stays,targeted,5,18,disability,no,,,{c},"
        "Al Lee,al@example.org,,\r\n"
        f"2007-08,{p},Tier 2 CAMHS,,specialist,0,18,mental health;anxiety,yes,2,,,"
        "Al Lee,al@example.org,0161 555 0101,\r\n"
    ).encode()
    me = api.as_("national-admin")  # one person: a file kept is only its checker's
    csv_headers = {**me, "content-type": "text/csv; charset=utf-8"}
    before = await db.fetchval("SELECT count(*) FROM events")

    checked = await api.client.post(
        "/directory/services/import",
        params={"dry_run": "true"},
        content=good,
        headers=csv_headers,
    )
    assert checked.status_code == 200, checked.text
    upload_id = checked.json()["upload_id"]
    assert checked.json() | {"service_ids": [], "upload_id": None} == {
        "lines": 2,
        "imported": 2,
        "unchanged": 0,
        "service_ids": [],
        "dry_run": True,
        "upload_id": None,
    }
    assert await db.fetchval("SELECT count(*) FROM events") == before

    # The checked file is confirmed by its id, without sending it again; it is no one else's.
    someone_else = await api.client.post(
        "/directory/services/import", params={"upload_id": upload_id}, headers=api.admin
    )
    assert someone_else.status_code == 404, someone_else.text
    done = await api.client.post(
        "/directory/services/import", params={"upload_id": upload_id}, headers=csv_headers
    )
    assert done.status_code == 201, done.text
    assert (
        done.json()["imported"] == 2 and done.json()["service_ids"] == checked.json()["service_ids"]
    )
    tier = await api.client.get(
        f"/directory/services/{done.json()['service_ids'][1]}", headers=api.admin
    )
    assert tier.json()["camhs_tier"] == 2
    assert tier.json()["client_group"]["needs"] == ["mental health", "anxiety"]

    # The confirmation retried (a double click, a lost answer): nothing registered twice.
    again = await api.client.post(
        "/directory/services/import", params={"upload_id": upload_id}, headers=csv_headers
    )
    assert again.status_code == 200, again.text
    again = await api.client.post("/directory/services/import", content=good, headers=csv_headers)
    assert again.status_code == 200, again.text
    assert (again.json()["imported"], again.json()["unchanged"]) == (0, 2)
    assert await db.fetchval("SELECT count(*) FROM events") == before + 2


async def test_a_bad_csv_names_every_line_field_and_reason(api: Api) -> None:
    p = await api.organisation("LA5")
    bad = (
        f"{CSV_HEADER}\n"
        f"2007-08,{p},Ok,,targeted,5,18,,no,,,,A,a@b.org,,\n"
        f"2007-08,NOPE9,Unknown provider,,targeted,5,18,,no,,,,A,a@b.org,,\n"
        f"2007-08,{p},Bad type,,castle,5,18,,no,,,,A,a@b.org,,\n"
        f"2007-08,{p},Ages,,targeted,12,3,,no,,,,A,a@b.org,,\n"
        f"2007-08,{p},Tier,,targeted,5,18,,no,3,,,A,a@b.org,,\n"
        f"2007-08,{p},Huge,,targeted,5,{'9' * 5000},,no,,,,A,a@b.org,,\n"
        f"2007-08,{p},OK,,targeted,5,18,,no,,,,A,a@b.org,,\n"
    ).encode()
    response = await api.client.post(
        "/directory/services/import",
        params={"dry_run": "true"},
        content=bad,
        headers={**api.admin, "content-type": "text/csv"},
    )
    assert response.status_code == 422, response.text
    assert [(d["line"], d["field"]) for d in response.json()["details"]] == [
        (3, "provider_id"),
        (4, "service_type"),
        (5, "age_min"),  # the CSV's own column names
        (6, "camhs_tier"),
        (7, "age_max"),
        (8, "name"),
    ]
    assert "already on line 2" in response.json()["details"][-1]["reason"]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"cycle,name\n2007-08,caf\xe9\n", "line"),
        (b"cycle,name\n2007-08,a\x00b\n", "line"),
    ],
)
async def test_bytes_that_are_not_text_are_refused_naming_the_line(
    api: Api, content: bytes, field: str
) -> None:
    response = await api.client.post(
        "/directory/services/import",
        content=content,
        headers={**api.admin, "content-type": "text/csv"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] in (field, "file", "body")


async def test_huge_numbers_in_json_lines_are_bad_lines(api: Api) -> None:
    p = await api.organisation("LA5")
    lines = [
        json.dumps(service(provider_id=p, name="A")).replace(
            '"age_max": 11', f'"age_max": {"9" * 400}'
        ),
        json.dumps(service(provider_id=p, name="B")).replace('"age_min": 2', '"age_min": 1e400'),
    ]
    response = await api.client.post(
        "/directory/services/import",
        params={"dry_run": "true"},
        content=jsonl(*lines),
        headers=api.admin,
    )
    assert response.status_code == 422, response.text
    assert [(d["line"], d["field"]) for d in response.json()["details"]] == [
        (1, "client_group.age_max"),
        (2, "client_group.age_min"),
    ]


async def test_an_import_of_another_type_is_415(api: Api) -> None:
    response = await api.client.post(
        "/directory/services/import",
        content=b"<xml/>",
        headers={**api.admin, "content-type": "application/xml"},
    )
    assert response.status_code == 415, response.text


async def test_a_lead_imports_their_own_services_and_no_one_elses(api: Api) -> None:
    p = await api.organisation("LA5")
    other = await api.organisation("LA5")
    lead = api.as_("mapping-lead", org=p)
    theirs = service(provider_id=p, name="Ours", cycle="2007-08")
    not_theirs = service(provider_id=other, name="Theirs", cycle="2007-08")
    refused = await api.client.post(
        "/directory/services/import", content=jsonl(theirs, not_theirs), headers=lead
    )
    assert refused.status_code == 422, refused.text
    assert [(d["line"], d["field"]) for d in refused.json()["details"]] == [(2, "provider_id")]
    done = await api.client.post("/directory/services/import", content=jsonl(theirs), headers=lead)
    assert done.status_code == 201 and done.json()["imported"] == 1


async def test_area_search_follows_a_providers_changed_areas(api: Api) -> None:
    """Areas are copied onto directory rows; changing an organisation's areas updates them."""
    provider = fresh_code()
    r = await api.client.post(
        "/organisations",
        json={
            "code": provider,
            "name": f"{provider} PCT",
            "kind": "pct",
            "region": "london",
            "partnership_areas": ["00AA"],
        },
        headers=api.admin,
    )
    assert r.status_code == 201, r.text
    sid = (await api.create(provider_id=provider))["service_id"]

    async def in_area(area: str) -> bool:
        r = await api.client.get("/directory/services", params={"area": area}, headers=api.admin)
        assert r.status_code == 200, r.text
        return sid in {s["service_id"] for s in r.json()["items"]}

    assert await in_area("00AA")
    r = await api.client.patch(
        f"/organisations/{provider}",
        json={"partnership_areas": ["00BB"]},
        headers={**api.admin, "if-match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert await in_area("00BB")
    assert not await in_area("00AA")


# --- signed-off returns -----------------------------------------------------------------

SETTLED_CYCLE, SETTLED_FROM = "2015-16", "2014-15"


async def publish(api: Api, *envelopes: EventEnvelope) -> None:
    """Put events on the questionnaire topic, as the questionnaire service's relay does."""
    producer = AIOKafkaProducer(bootstrap_servers=api.bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            key, value, headers = encode(envelope)
            await producer.send_and_wait(
                Topics.QUESTIONNAIRE, value=value, key=key, headers=headers
            )
    finally:
        await producer.stop()


async def signed_off_at(db: asyncpg.Connection, org: str, wanted: bool) -> datetime | None:
    """Wait until registration's copy says the return is signed off (or, `wanted` false, not)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        at: datetime | None = await db.fetchval(
            "SELECT signed_off_at FROM signed_off_returns WHERE cycle = $1 "
            "AND organisation_id = $2",
            SETTLED_CYCLE,
            org,
        )
        if (at is not None) == wanted:
            return at
        await asyncio.sleep(0.2)
    raise AssertionError(f"the consumer did not record {org}'s return within 60 s")


async def the_changes(api: Api, provider: str) -> dict[str, Any]:
    """Every change of a provider's services in SETTLED_CYCLE, each as its lead would send it:
    a new service, an import, and a confirmation, revision and withdrawal of carried ones."""
    carried = []
    for name in ("Confirm me", "Revise me", "Withdraw me"):
        record = await api.create(provider_id=provider, cycle=SETTLED_FROM, name=name)
        carried.append(carried_forward_id(uuid.UUID(record["service_id"]), SETTLED_CYCLE))
    done = await api.client.post(
        f"/directory/cycles/{SETTLED_CYCLE}/carry-forward",
        params={"from": SETTLED_FROM},
        headers=api.admin,
    )
    assert done.status_code == 200, done.text
    confirm, revise, withdraw = carried
    new = service(provider_id=provider, cycle=SETTLED_CYCLE, name="Added by hand")
    imported = service(provider_id=provider, cycle=SETTLED_CYCLE, name="Added from a file")
    return {
        "register": ("POST", "/directory/services", {"json": new}),
        "import": ("POST", "/directory/services/import", {"content": jsonl(imported)}),
        "import dry run": (
            "POST",
            "/directory/services/import?dry_run=true",
            {"content": jsonl(imported)},
        ),
        "confirm": (
            "POST",
            f"/directory/services/{confirm}/confirm",
            {"json": {"expected_version": 1}},
        ),
        "revise": (
            "PATCH",
            f"/directory/services/{revise}",
            {"json": {"expected_version": 1, "name": "Revised"}},
        ),
        "withdraw": (
            "POST",
            f"/directory/services/{withdraw}/withdraw",
            {"json": {"expected_version": 1, "reason": "closed"}},
        ),
    }


async def test_a_signed_off_return_settles_its_services_until_it_is_reopened(
    api: Api, db: asyncpg.Connection
) -> None:
    """Sign-off and reopening arrive on Kafka as the questionnaire service publishes them; in
    between, every change of the provider's services in that cycle is 409, for its lead and
    for the national team alike, and nothing is written."""
    p = await api.organisation("LA4")
    changes = await the_changes(api, p)
    lead = api.as_("mapping-lead", org=p)
    questionnaire = InMemoryEventStore()
    stream = f"return-{SETTLED_CYCLE}-{p}"
    at = datetime(2016, 2, 10, 16, 45, tzinfo=UTC)  # GMT: 4:45pm in England
    (signed,) = await questionnaire.append(
        stream,
        0,
        [
            NewEvent.from_payload(
                CycleSignedOff(
                    organisation_id=p,
                    cycle=SETTLED_CYCLE,
                    signed_off_at=at,
                    signed_off_by="user:lead",
                    questionnaires_submitted=3,
                )
            )
        ],
        AppendContext(actor="user:lead"),
    )
    await publish(api, signed, signed)  # delivered twice: recorded once
    assert await signed_off_at(db, p, wanted=True) == at
    events_before = await db.fetchval("SELECT count(*) FROM events")

    for name, (method, url, body) in changes.items():
        for headers in (lead, api.admin):
            refused = await api.client.request(method, url, headers=headers, **body)
            assert refused.status_code == 409, (name, refused.text)
            assert refused.json()["error"] == (
                f"The {SETTLED_CYCLE} return of {p} was signed off on 10 February 2016 at "
                f"4:45pm, so "
                + (
                    "no services can be added to it"
                    if name in ("register", "import", "import dry run")
                    else "its services cannot be confirmed, revised or withdrawn"
                )
                + ". If something needs changing, ask the national mapping team to reopen the "
                "return."
            ), name
    assert await db.fetchval("SELECT count(*) FROM events") == events_before

    (reopening,) = await questionnaire.append(
        stream,
        1,
        [
            NewEvent.from_payload(
                ReturnReopened(
                    organisation_id=p,
                    cycle=SETTLED_CYCLE,
                    reason="a service was left out",
                    was_signed_off_at=at,
                )
            )
        ],
        AppendContext(actor="user:national"),
    )
    # The sign-off again after the reopening (a late redelivery) undoes nothing.
    await publish(api, reopening, signed)
    await signed_off_at(db, p, wanted=False)
    await asyncio.sleep(1)  # room for the late sign-off to (wrongly) show up
    assert await signed_off_at(db, p, wanted=False) is None

    for name, (method, url, body) in changes.items():
        allowed = await api.client.request(method, url, headers=lead, **body)
        assert allowed.status_code in (200, 201), (name, allowed.text)


async def test_a_sign_off_recorded_meanwhile_waits_for_a_change_or_refuses_it(
    api: Api, db: asyncpg.Connection
) -> None:
    """The check and the write share one lock with the consumer's record of a sign-off: a
    change arriving while a sign-off is being recorded waits for it and is then refused."""
    p = await api.organisation("LA4")
    record = await api.create(provider_id=p, cycle=SETTLED_CYCLE, name="Raced")
    runtime = api.app.state.runtime
    directory = directory_pg.PostgresDirectory(runtime.require_store(), runtime.require_pool())
    conn = await asyncpg.connect(api.dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        # As the consumer's handler does, in the transaction that records the message.
        await record_sign_off(
            directory.joined(conn), SETTLED_CYCLE, p, datetime.now(UTC), return_version=1
        )
        change = asyncio.create_task(
            api.client.post(
                f"/directory/services/{record['service_id']}/withdraw",
                json={"expected_version": 1, "reason": "closed"},
                headers=api.admin,
            )
        )
        await asyncio.sleep(1)
        assert not change.done(), change.result().text  # it waits for the sign-off's commit
        await tx.commit()
        refused = await asyncio.wait_for(change, 30)
    finally:
        await conn.close()

    assert refused.status_code == 409, refused.text
    assert "was signed off on" in refused.json()["error"]
    got = await api.client.get(f"/directory/services/{record['service_id']}", headers=api.admin)
    assert (got.json()["version"], got.json()["status"]) == (1, "active")


async def test_the_copy_on_postgresql_keeps_the_returns_own_order(api: Api) -> None:
    """A repeated or older event of a return (by its stream version) changes nothing, as in
    memory (`test_signed_off_returns.py`): here through the SQL."""
    p = await api.organisation("LA4")
    runtime = api.app.state.runtime
    directory = directory_pg.PostgresDirectory(runtime.require_store(), runtime.require_pool())
    at = datetime(2016, 1, 5, 10, 0, tzinfo=UTC)
    key = [(SETTLED_CYCLE, p)]

    await record_sign_off(directory, SETTLED_CYCLE, p, at, return_version=3)
    await record_sign_off(directory, SETTLED_CYCLE, p, at, return_version=3)
    assert [s.signed_off_at for s in await directory.signed_off(key)] == [at]
    await record_reopening(directory, SETTLED_CYCLE, p, return_version=4)
    await record_sign_off(directory, SETTLED_CYCLE, p, at, return_version=3)  # late
    assert await directory.signed_off(key) == []
    await record_reopening(directory, SETTLED_CYCLE, p, return_version=2)
    await record_sign_off(directory, SETTLED_CYCLE, p, at, return_version=5)
    await record_reopening(directory, SETTLED_CYCLE, p, return_version=4)  # late
    assert [s.signed_off_at for s in await directory.signed_off(key)] == [at]
    async with directory.transaction() as tx:  # the locked read answers the same
        assert [s.organisation_id for s in await tx.signed_off(key)] == [p]
