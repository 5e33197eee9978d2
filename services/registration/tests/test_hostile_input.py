"""Hostile input at registration, on the real app (issue #24): NUL and text that is not UTF-8
in bodies, imports and paths, versions and lists beyond any sane size, all answer 4xx naming
the field; none is a 500 and none is stored."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.infra


def _fields(r: Any, status: int = 422) -> list[str]:
    assert r.status_code == status, (r.status_code, r.text)
    return [d["field"] for d in r.json()["details"]]


def _service(**overrides: Any) -> dict[str, Any]:
    return {
        "cycle": "2009-10",
        "name": "Speech and language therapy",
        "description": "Assessment and therapy.",
        "service_type": "targeted",
        "client_group": {"age_min": 2, "age_max": 11, "needs": []},
        "provider_id": "5A4",
        "contact": {"name": "Pat Jones", "email": "pat@example.nhs.uk"},
        **overrides,
    }


async def test_hostile_bytes_and_sizes_are_refused(registration_app, auth_keys) -> None:
    async with registration_app("reg_hostile", headers=auth_keys.headers("national-admin")) as a:
        c = a.client
        org = {"code": "5A4", "name": "Anytown PCT", "kind": "pct", "region": "london"}
        assert _fields(await c.post("/organisations", json={**org, "name": "Any\x00town"})) == [
            "name"
        ]
        r = await c.post(
            "/organisations",
            content=b'{"code": "5A4", "name": "Any\xfftown", "kind": "pct", "region": "london"}',
            headers={"content-type": "application/json"},
        )
        assert _fields(r) == ["name"]
        assert _fields(await c.get("/organisations/%00")) == ["path.code"]
        assert _fields(await c.get("/organisations?area=%ff%fe%00")) == ["query.area"]
        r = await c.post("/organisations", json={**org, "partnership_areas": ["00AA"] * 201})
        assert _fields(r) == ["partnership_areas"]
        r = await c.post("/organisations", json=org)
        assert r.status_code == 201, r.text
        # Versions beyond PostgreSQL's int were a 500.
        r = await c.patch("/organisations/5A4", json={"name": "X", "expected_version": 10**30})
        assert _fields(r) == ["expected_version"]
        r = await c.patch("/organisations/5A4", json={"name": "X"}, headers={"If-Match": "9" * 12})
        assert _fields(r) == ["If-Match"]
        # The directory.
        r = await c.post("/directory/services", json=_service(description="a\x00b"))
        assert _fields(r) == ["description"]
        r = await c.post("/directory/services", json=_service(commissioner_ids=["5A4"] * 51))
        assert _fields(r) == ["commissioner_ids"]
        r = await c.post(
            "/directory/services",
            json=_service(client_group={"age_min": 10**30, "age_max": 11, "needs": []}),
        )
        assert _fields(r) == ["client_group.age_min"]
        r = await c.post("/directory/services", json=_service())
        assert r.status_code == 201, r.text
        sid = r.json()["service_id"]
        r = await c.patch(
            f"/directory/services/{sid}", json={"expected_version": 10**30, "name": "Renamed"}
        )
        assert _fields(r) == ["expected_version"]
        r = await c.post(
            f"/directory/services/{sid}/withdraw",
            json={"expected_version": 1, "reason": "x" * 1001},
        )
        assert _fields(r) == ["reason"]
        # Imports: JSON lines name the line, a CSV is refused whole.
        lines = b'{"cycle": "2009-10"}\n{"name": "\\u0000"}\n'
        r = await c.post(
            "/directory/services/import",
            content=lines,
            headers={"content-type": "application/x-ndjson"},
        )
        assert r.status_code == 422 and r.json()["details"][0]["line"] == 2
        r = await c.post(
            "/organisations/import",
            content=b"code,name,kind,region\n5B1,Other\x00borough PCT,pct,london\n",
            headers={"content-type": "text/csv"},
        )
        assert _fields(r) == ["body"]
        # Too large for its route: told up front, refused before it is read.
        r = await c.post(
            "/organisations/import",
            content=b"x" * (5 * 1024 * 1024 + 1),
            headers={"content-type": "text/csv"},
        )
        assert _fields(r, 413) == ["body"]
        r = await c.post(
            "/organisations",
            content=b" " * (4 * 1024 * 1024 + 1),
            headers={"content-type": "application/json"},
        )
        assert _fields(r, 413) == ["body"]
        # The probes that grew registration from 95 to 177 MB: refused before they are read.
        huge = b'{"email": "a@example.org", "password": "' + b"x" * (40 * 1024 * 1024) + b'"}'
        r = await c.post(
            "/auth/sign-in", content=huge, headers={"content-type": "application/json"}
        )
        assert _fields(r, 413) == ["body"]
        many = ("{" + ",".join(f'"k{i}":{i}' for i in range(200_000)) + "}").encode()
        r = await c.post(
            "/organisations", content=many, headers={"content-type": "application/json"}
        )
        assert _fields(r, 413) == ["body"]
        # Nothing of it was stored.
        pool = a.app.state.runtime.require_pool()
        assert await pool.fetchval("SELECT count(*) FROM events") == 2
