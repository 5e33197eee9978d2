"""Every registration endpoint against every kind of caller, on the real app and database.

Expected outcomes: "ok" (the caller got past authorisation: any 2xx, or a 409/422 about the
data), 401 (no valid token), 403 (a role that may not do this), 404 (data of an organisation or
group the caller may not see, answered as if it did not exist). A test fails if an endpoint is
missing from the matrix, so new endpoints must state who may call them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from csm_kernel.settings import ServiceSettings
from registration.bootstrap import build_app

OK = "ok"
CALLERS = (
    "anonymous",
    "national-admin",
    "auditor",
    "regulator",
    "lead",
    "other-lead",
    "owner",
    "other-owner",
)
#: Endpoints anyone may call (they check their own credentials), tested in test_accounts_http.
PUBLIC = {("POST", "/auth/set-up"), ("POST", "/auth/sign-in"), ("POST", "/auth/refresh")}
#: A way back in: public too, tested in test_way_back_in.
PUBLIC |= {
    ("POST", "/auth/password-reset-requests"),
    ("POST", "/auth/set-up-link-requests"),
    ("POST", "/auth/links/check"),
    ("POST", "/auth/reset-password"),
}


@dataclass
class World:
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]
    org_a: str
    org_b: str
    group_1: str
    group_2: str
    service_1: str  # in org A, group 1


def _code() -> str:
    return "M" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(3))


def _service(provider: str, group: str | None) -> dict[str, Any]:
    return {
        "cycle": "2009-10",
        "name": f"Service {uuid.uuid4().hex[:6]}",
        "description": "School nursing",
        "service_type": "universal",
        "client_group": {"age_min": 5, "age_max": 11, "needs": []},
        "group_id": group,
        "provider_id": provider,
        "contact": {"name": "N", "email": "n@trust.nhs.uk"},
    }


@pytest.fixture(scope="module")
async def world(registration_app: Any, auth_keys: Any) -> AsyncIterator[World]:
    async with registration_app("matrix") as running:
        client = running.client
        admin = auth_keys.headers("national-admin")
        org_a, org_b = _code(), _code()
        for org in (org_a, org_b):
            r = await client.post(
                "/organisations",
                json={"code": org, "name": f"{org} PCT", "kind": "pct", "region": "london"},
                headers=admin,
            )
            assert r.status_code == 201, r.text
        groups = []
        for name in ("North", "South"):
            r = await client.post(
                f"/organisations/{org_a}/groups",
                json={
                    "name": name,
                    "kind": "locality",
                    "owner": {"email": f"{uuid.uuid4().hex[:8]}@x.nhs.uk", "name": name},
                },
                headers=admin,
            )
            assert r.status_code == 201, r.text
            groups.append(r.json()["group_id"])
        r = await client.post("/directory/services", json=_service(org_a, groups[0]), headers=admin)
        assert r.status_code == 201, r.text
        service_1 = r.json()["service_id"]
        headers = {
            "anonymous": {},
            "national-admin": admin,
            "auditor": auth_keys.headers("auditor"),
            "regulator": auth_keys.headers("regulator"),
            "lead": auth_keys.headers("mapping-lead", org=org_a),
            "other-lead": auth_keys.headers("mapping-lead", org=org_b),
            "owner": auth_keys.headers("group-owner", org=org_a, group=groups[0]),
            "other-owner": auth_keys.headers("group-owner", org=org_a, group=groups[1]),
        }
        yield World(client, headers, org_a, org_b, groups[0], groups[1], service_1)


def expect(default: Any = 403, **by_caller: Any) -> dict[str, Any]:
    """Expected outcome per caller: anonymous is always 401; the rest default to `default`."""
    table = {caller: default for caller in CALLERS}
    table["anonymous"] = 401
    table.update({k.replace("_", "-"): v for k, v in by_caller.items()})
    return table


Body = Callable[[World], Any]
ROWS: list[tuple[str, str, Body | None, dict[str, Any]]] = [
    # organisations
    (
        "POST",
        "/organisations",
        lambda w: {"code": _code(), "name": "X", "kind": "pct", "region": "london"},
        expect(national_admin=OK),
    ),
    ("GET", "/organisations", None, expect(national_admin=OK, auditor=OK, regulator=OK)),
    ("POST", "/organisations/import", None, expect(national_admin=OK)),
    (
        "GET",
        "/organisations/{org_a}",
        None,
        expect(
            national_admin=OK,
            auditor=OK,
            regulator=OK,
            lead=OK,
            other_lead=404,
            owner=OK,
            other_owner=OK,
        ),
    ),
    (
        "PATCH",
        "/organisations/{org_a}",
        lambda w: {"name": f"Renamed {uuid.uuid4().hex[:4]}"},
        expect(national_admin=OK, lead=OK, other_lead=404),
    ),
    (
        "GET",
        "/organisations/{org_a}/history",
        None,
        expect(national_admin=OK, auditor=OK, lead=OK, other_lead=404),
    ),
    # accounts, leads, groups
    (
        "POST",
        "/accounts",
        lambda w: {"email": f"{uuid.uuid4().hex[:8]}@dfe.example", "name": "N", "role": "auditor"},
        expect(national_admin=OK),
    ),
    (
        "PUT",
        "/organisations/{org_b}/lead",
        lambda w: {"email": f"{uuid.uuid4().hex[:8]}@x.nhs.uk", "name": "Lead"},
        expect(national_admin=OK),
    ),
    (
        "POST",
        "/organisations/leads",
        lambda w: {
            "leads": [{"code": w.org_b, "email": f"{uuid.uuid4().hex[:8]}@x.nhs.uk", "name": "L"}]
        },
        expect(national_admin=OK),
    ),
    (
        "GET",
        "/organisations/{org_a}/lead",
        None,
        # No lead nominated for org A: past the role check, there is none to show.
        expect(national_admin=404, auditor=404, lead=404, other_lead=404),
    ),
    (
        "POST",
        "/accounts/{account_id}/set-up-link",
        None,
        # No such account: the national team is let through to be told so.
        expect(national_admin=404),
    ),
    (
        "GET",
        "/organisations/{org_a}/lead/history",
        None,
        expect(national_admin=OK, auditor=OK, lead=OK, other_lead=404),
    ),
    (
        "POST",
        "/organisations/{org_a}/groups",
        lambda w: {
            "name": "G",
            "kind": "locality",
            "owner": {"email": f"{uuid.uuid4().hex[:8]}@x.nhs.uk", "name": "O"},
        },
        expect(national_admin=OK, lead=OK, other_lead=404),
    ),
    (
        "GET",
        "/organisations/{org_a}/groups",
        None,
        expect(national_admin=OK, auditor=OK, lead=OK, other_lead=404, owner=OK, other_owner=OK),
    ),
    (
        "GET",
        "/groups/{group_1}",
        None,
        expect(national_admin=OK, auditor=OK, lead=OK, other_lead=404, owner=OK, other_owner=404),
    ),
    ("GET", "/accounts", None, expect(national_admin=OK)),
    (
        "POST",
        "/accounts/{account_id}/disable",
        lambda w: {"reason": "left the team"},
        # No such account: a national admin is answered 404, everyone else refused first.
        expect(national_admin=404),
    ),
    ("POST", "/auth/sign-out", None, expect(default=OK)),
    ("GET", "/auth/me", None, expect(default=OK)),
    # Anyone signed in asks; what each is told is tested in test_people.
    ("GET", "/people?id={account_id}", None, expect(default=OK)),
]

# directory of services (service_1 is org A's, group 1's). Changes send a stale version, so
# a caller who gets past authorisation is answered 409 and the record stays as it is.
_READ_SERVICE = expect(
    national_admin=OK, auditor=OK, lead=OK, other_lead=404, owner=OK, other_owner=404
)
_CHANGE_SERVICE = expect(national_admin=OK, lead=OK, other_lead=404, owner=OK, other_owner=404)
DIRECTORY_ROWS: list[tuple[str, str, Body | None, dict[str, Any]]] = [
    (
        "POST",
        "/directory/services",
        lambda w: _service(w.org_a, w.group_1),
        expect(national_admin=OK, lead=OK, owner=OK),
    ),
    (
        "GET",
        "/directory/services",
        None,
        expect(national_admin=OK, auditor=OK, lead=OK, other_lead=OK, owner=OK, other_owner=OK),
    ),
    (
        "POST",
        "/directory/services/import",
        None,
        expect(national_admin=OK, lead=OK, other_lead=OK),
    ),
    ("GET", "/directory/services/{service_1}", None, _READ_SERVICE),
    (
        "PATCH",
        "/directory/services/{service_1}",
        lambda w: {"expected_version": 999, "name": "Renamed"},
        _CHANGE_SERVICE,
    ),
    (
        "POST",
        "/directory/services/{service_1}/withdraw",
        lambda w: {"expected_version": 999, "reason": "closed"},
        _CHANGE_SERVICE,
    ),
    (
        "POST",
        "/directory/services/{service_1}/confirm",
        lambda w: {"expected_version": 999},
        _CHANGE_SERVICE,
    ),
    ("GET", "/directory/services/{service_1}/history", None, _READ_SERVICE),
    ("GET", "/directory/services/{service_1}/changes-since-last-year", None, _READ_SERVICE),
    ("POST", "/directory/cycles/{cycle}/carry-forward", None, expect(national_admin=OK)),
]
ROWS += DIRECTORY_ROWS


def _outcome(status: int) -> Any:
    if status in (401, 403, 404):
        return status
    assert status < 500, f"server error {status}"
    return OK


async def _call(w: World, method: str, path: str, body: Body | None, caller: str) -> int:
    url = path.format(
        org_a=w.org_a,
        org_b=w.org_b,
        group_1=w.group_1,
        group_2=w.group_2,
        service_1=w.service_1,
        cycle="2030-31",
        account_id="0" * 32,
    )
    kwargs: dict[str, Any] = {"headers": w.headers[caller]}
    if path.endswith("/import"):
        kwargs["content"] = b""
    elif body is not None:
        kwargs["json"] = body(w)
    response = await w.client.request(method, url, **kwargs)
    return response.status_code


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), ROWS, ids=[f"{m} {p}" for m, p, _, _ in ROWS]
)
async def test_each_caller_gets_what_the_matrix_says(
    world: World, method: str, path: str, body: Body | None, expected: dict[str, Any]
) -> None:
    got = {}
    for caller in CALLERS:
        if caller == "national-admin" and method == "POST" and path == "/auth/sign-out":
            continue  # signing out the shared admin token would end it for the other rows
        got[caller] = _outcome(await _call(world, method, path, body, caller))
    wanted = {c: expected[c] for c in got}
    assert got == wanted


def test_every_endpoint_is_in_the_matrix() -> None:
    app = build_app(ServiceSettings())
    listed = {(m, p) for m, p, _, _ in ROWS} | PUBLIC
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            pattern = path
            for name in ("code", "group_id", "service_id", "cycle", "account_id"):
                pattern = pattern.replace("{" + name + "}", "{*}")
            normalised = {
                (
                    m,
                    p.split("?")[0]
                    .replace("{org_a}", "{*}")
                    .replace("{org_b}", "{*}")
                    .replace("{group_1}", "{*}")
                    .replace("{service_1}", "{*}")
                    .replace("{cycle}", "{*}")
                    .replace("{account_id}", "{*}"),
                )
                for m, p in listed
            }
            assert (method.upper(), pattern) in normalised, f"{method.upper()} {path} not in matrix"
