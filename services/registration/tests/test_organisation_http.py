"""Organisations over HTTP on the real app, real PostgreSQL: changes with If-Match, history,
the national listing, the bulk import, and who may call each endpoint."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_contracts.events import OrganisationKind, Region
from csm_kernel.database import migrate
from csm_kernel.errors import ConcurrencyConflict
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from registration.adapters.organisations_postgres import (
    PostgresOrganisations,
    rebuild_organisation_list,
)
from registration.application.organisation_import import MAX_IMPORT_BYTES
from registration.domain.commands import RegisterOrganisation, RenameOrganisation
from registration.domain.organisation import Organisation, OrganisationChange

pytestmark = pytest.mark.infra

_ALPHABET = string.ascii_uppercase + string.digits
_used: set[str] = set()


def code(prefix: str = "Y") -> str:
    """A fresh code (the module's database is shared by its tests)."""
    while True:
        value = prefix + "".join(random.choices(_ALPHABET, k=4 - len(prefix) + 1))
        if value not in _used:
            _used.add(value)
            return value


def trust(c: str, **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": c,
        "name": f"Trust {c}",
        "kind": "nhs-trust-acute",
        "region": "london",
        "partnership_areas": [],
    }
    out.update(overrides)
    return out


HEADER = "code,name,kind,region,partnership_areas,linked_organisation_id,mapped_by\n"


def csv_of(rows: Iterable[str]) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode()


CSV = {"content-type": "text/csv"}


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    auth_keys: Any

    def as_(self, role: str, org: str | None = None) -> dict[str, str]:
        return self.auth_keys.headers(role, org=org)

    async def register(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post("/organisations", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
async def service(registration_app: Any, auth_keys: Any) -> AsyncIterator[Service]:
    token = auth_keys.token("national-admin", user_id="admin-1")
    async with registration_app("regorg", headers={"authorization": f"Bearer {token}"}) as running:
        yield Service(app=running.app, client=running.client, dsn=running.dsn, auth_keys=auth_keys)


@pytest.fixture
async def db(service: Service) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(service.dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def event_count(db: asyncpg.Connection, codes: Iterable[str]) -> int:
    return int(await db.fetchval("SELECT count(*) FROM events WHERE key = ANY($1)", list(codes)))


async def listed(db: asyncpg.Connection, codes: Iterable[str]) -> dict[str, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM organisations WHERE code = ANY($1)", list(codes))
    return {r["code"]: r for r in rows}


# --- registering with the new rules ----------------------------------------------------------


async def test_a_third_sector_provider_needs_a_registered_lead(service: Service) -> None:
    lead, provider = code(), code()

    missing = await service.client.post("/organisations", json=trust(provider, kind="third-sector"))
    unknown = await service.client.post(
        "/organisations", json=trust(provider, kind="third-sector", mapped_by=lead)
    )
    await service.register(trust(lead, kind="pct"))
    ok = await service.client.post(
        "/organisations", json=trust(provider, kind="third-sector", mapped_by=lead)
    )

    assert missing.status_code == 422
    assert missing.json()["details"][0]["field"] == "mapped_by"
    assert unknown.status_code == 422
    assert unknown.json()["details"] == [
        {"field": "mapped_by", "reason": f"no organisation with code {lead} is registered"}
    ]
    assert ok.status_code == 201, ok.text
    assert ok.json()["mapped_by"] == lead


async def test_the_second_part_of_a_split_pct_links_the_first_back(
    service: Service, db: asyncpg.Connection
) -> None:
    commissioning, provider = code(), code()
    await service.register(trust(commissioning, kind="pct-commissioning"))

    response = await service.client.post(
        "/organisations",
        json=trust(provider, kind="pct-provider", linked_organisation_id=commissioning),
    )

    assert response.status_code == 201, response.text
    assert response.json()["linked_organisation_id"] == commissioning
    first = (await service.client.get(f"/organisations/{commissioning}")).json()
    assert first["linked_organisation_id"] == provider
    assert first["version"] == 2
    rows = await db.fetch(
        "SELECT type, correlation_id FROM events WHERE key = ANY($1) ORDER BY position",
        [commissioning, provider],
    )
    assert [r["type"] for r in rows] == [
        "registration.OrganisationRegistered",
        "registration.OrganisationRegistered",
        "registration.OrganisationLinked",
    ]
    assert rows[1]["correlation_id"] == rows[2]["correlation_id"]  # one request, one transaction
    assert (await listed(db, [commissioning]))[commissioning]["linked_organisation_id"] == provider


async def test_a_whitespace_name_is_422(service: Service) -> None:
    response = await service.client.post("/organisations", json=trust(code(), name="   "))

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "name"


async def test_registering_writes_the_listing_row_in_the_same_transaction(
    service: Service, db: asyncpg.Connection
) -> None:
    c = code()
    await service.register(trust(c, partnership_areas=["LB2", "LB1"]))

    row = (await listed(db, [c]))[c]

    assert (row["version"], row["name"], row["kind"], row["region"]) == (
        1,
        f"Trust {c}",
        "nhs-trust-acute",
        "london",
    )
    assert row["partnership_areas"] == ["LB1", "LB2"]


# --- PATCH with optimistic concurrency -------------------------------------------------------


async def test_a_rename_with_the_version_read_succeeds_and_moves_the_etag(
    service: Service, db: asyncpg.Connection
) -> None:
    c = code()
    await service.register(trust(c))
    read = await service.client.get(f"/organisations/{c}")

    response = await service.client.patch(
        f"/organisations/{c}",
        json={"name": "Renamed Trust"},
        headers={"if-match": read.headers["etag"]},
    )

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed Trust"
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert (await listed(db, [c]))[c]["name"] == "Renamed Trust"
    (row,) = await db.fetch(
        "SELECT data FROM events WHERE key = $1 AND type = 'registration.OrganisationRenamed'", c
    )
    assert '"old_name":"Trust ' in row["data"] and '"new_name":"Renamed Trust"' in row["data"]


async def test_a_stale_version_is_409_and_nothing_is_lost(
    service: Service, db: asyncpg.Connection
) -> None:
    c = code()
    await service.register(trust(c))
    first = await service.client.patch(
        f"/organisations/{c}", json={"name": "First", "expected_version": 1}
    )
    assert first.status_code == 200, first.text

    second = await service.client.patch(
        f"/organisations/{c}", json={"name": "Second"}, headers={"if-match": '"1"'}
    )

    assert second.status_code == 409
    assert "reload" in second.json()["error"]
    assert (await service.client.get(f"/organisations/{c}")).json()["name"] == "First"
    assert await event_count(db, [c]) == 2


async def test_concurrent_edits_from_one_version_exactly_one_wins(
    service: Service, db: asyncpg.Connection
) -> None:
    c = code()
    await service.register(trust(c))

    responses = await asyncio.gather(
        *(
            service.client.patch(
                f"/organisations/{c}", json={"name": f"Editor {i}"}, headers={"if-match": '"1"'}
            )
            for i in range(5)
        )
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409], [r.text for r in responses]
    (winner,) = [r for r in responses if r.status_code == 200]
    assert (await service.client.get(f"/organisations/{c}")).json()["name"] == (
        winner.json()["name"]
    )
    assert await event_count(db, [c]) == 2
    assert (await listed(db, [c]))[c]["version"] == 2


async def test_a_change_without_a_version_is_428(service: Service) -> None:
    c = code()
    await service.register(trust(c))

    response = await service.client.patch(f"/organisations/{c}", json={"name": "No Version"})

    assert response.status_code == 428
    assert "If-Match" in response.json()["error"]
    assert (await service.client.get(f"/organisations/{c}")).json()["version"] == 1


@pytest.mark.parametrize(
    ("json", "headers", "field"),
    [
        ({"name": ""}, {"if-match": '"1"'}, "name"),
        ({"partnership_areas": ["bad"]}, {"if-match": '"1"'}, "partnership_areas.0"),
        ({"kind": "pct"}, {"if-match": '"1"'}, "kind"),
        ({}, {"if-match": '"1"'}, "body"),
        ({"name": "X"}, {"if-match": "*"}, "If-Match"),
        ({"name": "X", "expected_version": 2}, {"if-match": '"1"'}, "expected_version"),
        ({"name": "X", "expected_version": 0}, {}, "expected_version"),
    ],
    ids=[
        "empty-name",
        "bad-area",
        "kind-cannot-change",
        "nothing",
        "star",
        "two-versions",
        "zero",
    ],
)
async def test_bad_changes_are_422_naming_the_field(
    service: Service, json: dict[str, Any], headers: dict[str, str], field: str
) -> None:
    c = code()
    await service.register(trust(c))

    response = await service.client.patch(f"/organisations/{c}", json=json, headers=headers)

    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["details"]]
    assert (await service.client.get(f"/organisations/{c}")).json()["version"] == 1


async def test_areas_naming_a_registered_non_la_are_422(service: Service) -> None:
    c, other = code(), code()
    await service.register(trust(c))
    await service.register(trust(other))

    response = await service.client.patch(
        f"/organisations/{c}", json={"partnership_areas": [other]}, headers={"if-match": '"1"'}
    )

    assert response.status_code == 422
    assert "not a local authority" in response.json()["details"][0]["reason"]


async def test_changing_an_unknown_organisation_is_404(service: Service) -> None:
    response = await service.client.patch(
        f"/organisations/{code()}", json={"name": "X"}, headers={"if-match": '"1"'}
    )
    assert response.status_code == 404


async def test_who_may_change_an_organisation(service: Service) -> None:
    mine, theirs = code(), code()
    for c in (mine, theirs):
        await service.register(trust(c))
    lead = service.as_("mapping-lead", org=mine)

    def patch(c: str, json: dict[str, Any], headers: dict[str, str]) -> Any:
        return service.client.patch(
            f"/organisations/{c}", json=json, headers={**headers, "if-match": '"1"'}
        )

    assert (await patch(mine, {"name": "X"}, {"authorization": ""})).status_code == 401
    for role in ("auditor", "regulator", "group-owner"):
        response = await patch(mine, {"name": "X"}, service.as_(role, org=mine))
        assert response.status_code == 403, role
    assert (await patch(theirs, {"name": "X"}, lead)).status_code == 404
    areas = await patch(mine, {"partnership_areas": ["LB1"]}, lead)
    assert areas.status_code == 403
    assert "national team" in areas.json()["error"]
    renamed = await patch(mine, {"name": "Our New Name"}, lead)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Our New Name"


# --- history ---------------------------------------------------------------------------------


async def test_history_shows_every_change_with_who_and_what(service: Service) -> None:
    c = code()
    await service.register(trust(c, partnership_areas=["LB1"]))
    lead = service.as_("mapping-lead", org=c)
    renamed = await service.client.patch(
        f"/organisations/{c}",
        json={"name": "New Name"},
        headers={**lead, "if-match": '"1"', "x-correlation-id": f"rename-{c}"},
    )
    assert renamed.status_code == 200, renamed.text
    moved = await service.client.patch(
        f"/organisations/{c}", json={"partnership_areas": ["LB2"]}, headers={"if-match": '"2"'}
    )
    assert moved.status_code == 200, moved.text

    response = await service.client.get(f"/organisations/{c}/history")

    assert response.status_code == 200, response.text
    entries = response.json()
    assert [(e["version"], e["event"]) for e in entries] == [
        (1, "OrganisationRegistered"),
        (2, "OrganisationRenamed"),
        (3, "PartnershipAreasChanged"),
    ]
    assert entries[0]["actor"] == "user:admin-1"
    assert entries[1]["actor"].startswith("user:test-")  # the lead's account
    assert entries[1]["correlation_id"] == f"rename-{c}"
    assert entries[1]["changes"] == {"name": {"old": f"Trust {c}", "new": "New Name"}}
    assert entries[2]["changes"] == {"partnership_areas": {"old": ["LB1"], "new": ["LB2"]}}
    assert entries[0]["changes"]["region"] == {"old": None, "new": "london"}
    assert all(e["occurred_at"] for e in entries)


async def test_who_may_read_the_history(service: Service) -> None:
    mine, theirs = code(), code()
    for c in (mine, theirs):
        await service.register(trust(c))

    def get(c: str, headers: dict[str, str]) -> Any:
        return service.client.get(f"/organisations/{c}/history", headers=headers)

    assert (await get(mine, {"authorization": ""})).status_code == 401
    assert (await get(mine, service.as_("regulator"))).status_code == 403
    assert (await get(mine, service.as_("group-owner", org=mine))).status_code == 403
    assert (await get(mine, service.as_("auditor"))).status_code == 200
    assert (await get(mine, service.as_("mapping-lead", org=mine))).status_code == 200
    assert (await get(theirs, service.as_("mapping-lead", org=mine))).status_code == 404
    assert (await get(code(), {})).status_code == 404


# --- the national listing --------------------------------------------------------------------


async def test_the_listing_filters_by_region_kind_and_area_and_pages(service: Service) -> None:
    area = code("L")
    la = await service.register(trust(area, kind="local-authority", region="north-east"))
    members = sorted(code() for _ in range(3))
    for i, c in enumerate(members):
        await service.register(
            trust(c, kind="pct" if i else "nhs-trust-acute", partnership_areas=[area])
        )
    await service.register(trust(code(), partnership_areas=[code("L")]))  # another area

    page1 = await service.client.get("/organisations", params={"area": area, "limit": 2})
    assert page1.status_code == 200, page1.text
    body1 = page1.json()
    expected = sorted([la["code"], *members])
    assert [o["code"] for o in body1["items"]] == expected[:2]
    assert body1["total"] == 4
    assert body1["next_after"] == expected[1]
    page2 = await service.client.get(
        "/organisations", params={"area": area, "limit": 2, "after": body1["next_after"]}
    )
    assert [o["code"] for o in page2.json()["items"]] == expected[2:]
    assert page2.json()["next_after"] is None
    assert body1["previous_before"] is None  # the first page
    assert page2.json()["previous_before"] == expected[2]

    # Back a page from the second: the first page again, with the way forward.
    back = await service.client.get(
        "/organisations",
        params={"area": area, "limit": 2, "before": page2.json()["previous_before"]},
    )
    assert [o["code"] for o in back.json()["items"]] == expected[:2]
    assert (back.json()["previous_before"], back.json()["next_after"]) == (None, expected[1])
    both = await service.client.get("/organisations", params={"after": "A", "before": "B"})
    assert both.status_code == 422 and "before" in both.text

    pcts = await service.client.get("/organisations", params={"area": area, "kind": "pct"})
    assert [o["code"] for o in pcts.json()["items"]] == members[1:]
    north_east = await service.client.get(
        "/organisations", params={"area": area, "region": "north-east"}
    )
    assert [o["code"] for o in north_east.json()["items"]] == [area]
    assert north_east.json()["items"][0]["partnership_areas"] == [area]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": "wales"}, "query.region"),
        ({"kind": "hospital"}, "query.kind"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 5000}, "query.limit"),
        ({"area": "la1"}, "area"),
    ],
)
async def test_bad_listing_filters_are_422(
    service: Service, params: dict[str, Any], field: str
) -> None:
    response = await service.client.get("/organisations", params=params)

    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["details"]]


async def test_who_may_list_organisations(service: Service) -> None:
    mine = code()
    await service.register(trust(mine))

    def get(headers: dict[str, str]) -> Any:
        return service.client.get("/organisations", params={"limit": 1}, headers=headers)

    assert (await get({"authorization": ""})).status_code == 401
    assert (await get(service.as_("mapping-lead", org=mine))).status_code == 403
    assert (await get(service.as_("group-owner", org=mine))).status_code == 403
    for role in ("national-admin", "auditor", "regulator"):
        assert (await get(service.as_(role))).status_code == 200, role


# --- the bulk import -------------------------------------------------------------------------


def import_file(prefix: str = "W") -> tuple[list[str], bytes]:
    la, trust_code, comm, prov, charity = (code(prefix) for _ in range(5))
    rows = [
        f"{la},Anytown Council,local-authority,north-west,,,",
        f"{trust_code},Anytown Hospitals,nhs-trust-acute,north-west,{la},,",
        f"{comm},Anytown PCT Commissioning,pct-commissioning,north-west,{la},{prov},",
        f"{prov},Anytown PCT Provider,pct-provider,north-west,{la},,",
        f'{charity},"Anytown Young Carers, Ltd",third-sector,north-west,{la},,{comm}',
    ]
    return [la, trust_code, comm, prov, charity], csv_of(rows)


async def test_import_registers_every_row_and_a_second_import_changes_nothing(
    service: Service, db: asyncpg.Connection
) -> None:
    codes, data = import_file()

    first = await service.client.post("/organisations/import", content=data, headers=CSV)
    events_after_first = await event_count(db, codes)
    second = await service.client.post("/organisations/import", content=data, headers=CSV)

    assert first.status_code == 200, first.text
    assert first.json() == {
        "rows": 5,
        "registered": codes,
        "changed": [],
        "unchanged": [],
        "events": 5,
        "dry_run": False,
    }
    assert events_after_first == 5
    assert second.status_code == 200, second.text
    assert second.json()["events"] == 0
    assert second.json()["unchanged"] == codes
    assert await event_count(db, codes) == 5
    charity = (await service.client.get(f"/organisations/{codes[4]}")).json()
    assert charity["name"] == "Anytown Young Carers, Ltd"
    assert charity["mapped_by"] == codes[2]
    provider = (await service.client.get(f"/organisations/{codes[3]}")).json()
    assert provider["linked_organisation_id"] == codes[2]
    rows = await listed(db, codes)
    assert set(rows) == set(codes)
    assert rows[codes[0]]["partnership_areas"] == [codes[0]]
    actors = await db.fetch("SELECT DISTINCT actor FROM events WHERE key = ANY($1)", codes)
    assert [r["actor"] for r in actors] == ["user:admin-1"]


async def test_an_edited_file_appends_only_the_changes(
    service: Service, db: asyncpg.Connection
) -> None:
    codes, data = import_file()
    assert (
        await service.client.post("/organisations/import", content=data, headers=CSV)
    ).status_code == 200
    new_area = code("L")
    edited = data.replace(b"Anytown Hospitals", b"Anytown Hospitals NHS Trust").replace(
        f"nhs-trust-acute,north-west,{codes[0]},".encode(),
        f"nhs-trust-acute,north-west,{codes[0]};{new_area},".encode(),
    )

    response = await service.client.post("/organisations/import", content=edited, headers=CSV)

    assert response.status_code == 200, response.text
    assert response.json()["changed"] == [codes[1]]
    assert response.json()["events"] == 2
    types = await db.fetch(
        "SELECT type FROM events WHERE key = $1 ORDER BY stream_version", codes[1]
    )
    assert [r["type"] for r in types] == [
        "registration.OrganisationRegistered",
        "registration.OrganisationRenamed",
        "registration.PartnershipAreasChanged",
    ]
    row = (await listed(db, [codes[1]]))[codes[1]]
    assert (row["name"], row["version"]) == ("Anytown Hospitals NHS Trust", 3)
    assert row["partnership_areas"] == sorted([codes[0], new_area])


async def test_one_bad_row_among_good_ones_writes_nothing(
    service: Service, db: asyncpg.Connection
) -> None:
    codes, data = import_file()
    bad_code = code()
    rows = data.decode().splitlines()
    rows.insert(3, f"{bad_code},Nowhere Trust,nhs-trust-acute,atlantis,,,")
    bad = ("\n".join(rows) + "\n").encode()
    positions = await db.fetchval("SELECT count(*) FROM events")
    listed_before = await db.fetchval("SELECT count(*) FROM organisations")

    response = await service.client.post("/organisations/import", content=bad, headers=CSV)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["details"] == [
        {
            "line": 4,
            "field": "region",
            "reason": body["details"][0]["reason"],
        }
    ]
    assert "'atlantis' is not an English region" in body["details"][0]["reason"]
    assert "nothing was imported" in body["error"]
    assert await db.fetchval("SELECT count(*) FROM events") == positions
    assert await db.fetchval("SELECT count(*) FROM organisations") == listed_before
    for c in [*codes, bad_code]:
        assert (await service.client.get(f"/organisations/{c}")).status_code == 404


async def test_every_bad_row_is_reported_with_its_line(service: Service) -> None:
    taken = code()
    await service.register(trust(taken))
    data = csv_of(
        [
            f"{code()},Good,pct,london,,,",
            "lower,Bad Code,pct,london,,,",
            f"{code()},,pct,london,,,",
            f"{code()},Charity,third-sector,london,,,",
            f"{taken},Trust {taken},pct,london,,,",
        ]
    )

    response = await service.client.post("/organisations/import", content=data, headers=CSV)

    assert response.status_code == 422
    found = [(d["line"], d["field"]) for d in response.json()["details"]]
    assert found == [(3, "code"), (4, "name"), (5, "mapped_by"), (6, "kind")]
    assert "5 rows" not in response.json()["error"]
    assert response.json()["error"].startswith("4 rows have problems")


async def test_a_wrong_header_is_422_with_a_clear_reason(service: Service) -> None:
    response = await service.client.post(
        "/organisations/import", content=b"organisation,title\nRX1,Leeds\n", headers=CSV
    )

    assert response.status_code == 422
    reasons = " ".join(d["reason"] for d in response.json()["details"])
    assert "unknown column(s) 'organisation', 'title'" in reasons
    assert "missing column(s) code, name, kind, region" in reasons


async def test_a_dry_run_reports_and_writes_nothing(
    service: Service, db: asyncpg.Connection
) -> None:
    codes, data = import_file()

    response = await service.client.post(
        "/organisations/import", params={"dry_run": "true"}, content=data, headers=CSV
    )

    assert response.status_code == 200, response.text
    assert response.json()["dry_run"] is True
    assert response.json()["registered"] == codes
    assert await event_count(db, codes) == 0


async def test_import_with_a_bom_and_windows_line_ends(service: Service) -> None:
    c = code()
    data = b"\xef\xbb\xbf" + f"code,name,kind,region\r\n{c},Bom Trust,pct,London\r\n".encode()

    response = await service.client.post("/organisations/import", content=data, headers=CSV)

    assert response.status_code == 200, response.text
    assert response.json()["registered"] == [c]


async def test_the_body_must_be_utf8_csv(service: Service) -> None:
    _, data = import_file()
    json_body = await service.client.post(
        "/organisations/import", content=data, headers={"content-type": "application/json"}
    )
    latin = await service.client.post(
        "/organisations/import",
        content=data,
        headers={"content-type": "text/csv; charset=windows-1252"},
    )

    assert json_body.status_code == 415
    assert "text/csv" in json_body.json()["error"]
    assert latin.status_code == 415


async def test_a_file_over_the_limit_is_413_and_writes_nothing(
    service: Service, db: asyncpg.Connection
) -> None:
    c = code()
    head = f"code,name,kind,region\n{c},Big,pct,london\n".encode()
    data = head + b"# padding\n" * (MAX_IMPORT_BYTES // 10 + 1)

    response = await service.client.post("/organisations/import", content=data, headers=CSV)

    assert response.status_code == 413
    assert "MiB" in response.json()["error"]
    assert await event_count(db, [c]) == 0


async def test_a_streamed_file_over_the_limit_is_413(service: Service) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"code,name,kind,region\n"
        for _ in range(MAX_IMPORT_BYTES // 65536 + 2):
            yield b"x" * 65536

    response = await service.client.post("/organisations/import", content=chunks(), headers=CSV)

    assert response.status_code == 413


async def test_who_may_import(service: Service) -> None:
    codes, data = import_file()

    def post(headers: dict[str, str]) -> Any:
        return service.client.post(
            "/organisations/import", content=data, headers={**CSV, **headers}
        )

    assert (await post({"authorization": ""})).status_code == 401
    for role in ("mapping-lead", "auditor", "regulator", "group-owner"):
        assert (await post(service.as_(role, org=codes[0]))).status_code == 403, role
    assert (await service.client.get(f"/organisations/{codes[0]}")).status_code == 404


async def test_concurrent_imports_of_one_file_register_each_code_once(
    service: Service, db: asyncpg.Connection
) -> None:
    codes, data = import_file()

    responses = await asyncio.gather(
        *(service.client.post("/organisations/import", content=data, headers=CSV) for _ in range(3))
    )

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) >= 1
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    assert await event_count(db, codes) == 5
    for r in responses:
        if r.status_code == 409:
            assert "import the file again" in r.json()["error"]


async def test_a_save_that_fails_midway_leaves_store_and_list_untouched(
    service: Service, db: asyncpg.Connection
) -> None:
    """The PostgreSQL repository's transaction: the first change's append succeeds, the
    second's stream has moved on, and neither the first append nor any list row survives."""
    first, second = code(), code()
    await service.register(trust(first))
    await service.register(trust(second))
    runtime = service.app.state.runtime
    repo = PostgresOrganisations(runtime.require_pool(), runtime.require_store())
    org1, org2 = await repo.load(first), await repo.load(second)
    moved = await service.client.patch(
        f"/organisations/{second}", json={"name": "Moved"}, headers={"if-match": '"1"'}
    )
    assert moved.status_code == 200, moved.text
    positions = await db.fetchval("SELECT count(*) FROM events")

    with pytest.raises(ConcurrencyConflict) as raised:
        await repo.save(
            [
                OrganisationChange(org1, tuple(org1.rename(RenameOrganisation(first, "A", 1)))),
                OrganisationChange(org2, tuple(org2.rename(RenameOrganisation(second, "B", 1)))),
            ],
            AppendContext("user:test"),
        )

    assert raised.value.stream_id == f"organisation-{second}"
    assert await db.fetchval("SELECT count(*) FROM events") == positions
    rows = await listed(db, [first, second])
    assert (rows[first]["name"], rows[first]["version"]) == (f"Trust {first}", 1)
    assert (rows[second]["name"], rows[second]["version"]) == ("Moved", 2)


# --- the list is a projection of the store ---------------------------------------------------


async def test_the_list_rebuilt_from_the_store_is_the_list_written_inline(service: Service) -> None:
    _, data = import_file()
    assert (
        await service.client.post("/organisations/import", content=data, headers=CSV)
    ).status_code == 200
    runtime = service.app.state.runtime
    pool = runtime.require_pool()
    columns = "code, version, name, kind, region, partnership_areas, linked_organisation_id, "
    columns += "mapped_by, registered_at, updated_at"
    before = await pool.fetch(f"SELECT {columns} FROM organisations ORDER BY code")

    count = await rebuild_organisation_list(pool, runtime.require_store())

    after = await pool.fetch(f"SELECT {columns} FROM organisations ORDER BY code")
    assert count == len(before) > 5
    assert [dict(r) for r in after] == [dict(r) for r in before]


async def test_organisations_registered_before_the_list_existed_are_listed(infra: Any) -> None:
    pool = await asyncpg.create_pool(await infra.create_database("regold"), min_size=1)
    assert pool is not None
    try:
        await migrate(pool, "registration", None)  # the kernel's tables only, as before
        store = PostgresEventStore(pool)
        org = Organisation(code="OLD1")
        (event,) = org.register(
            RegisterOrganisation(
                "OLD1", "Old PCT", OrganisationKind.PCT, Region.LONDON, ("LA1", "LA2")
            )
        )
        await store.append(
            "organisation-OLD1", 0, [NewEvent.from_payload(event)], AppendContext("x")
        )

        await migrate(
            pool, "registration", resources.files("registration.adapters").joinpath("sql")
        )

        found = await PostgresOrganisations(pool, store).load_many(["OLD1"])
        assert found["OLD1"] == org.evolved([event])
    finally:
        await pool.close()
