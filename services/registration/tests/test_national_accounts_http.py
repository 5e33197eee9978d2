"""The national team's accounts: listed, and one disabled (it cannot sign in again and its
sessions end); nobody disables their own account or an organisation's."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from csm_kernel.links import LinkTokens

PASSWORD = "correct horse battery staple"


@dataclass
class Service:
    client: httpx.AsyncClient
    dsn: str
    admin: dict[str, str]
    link_key: Path


@pytest.fixture(scope="module")
async def service(
    registration_app: Any, auth_keys: Any, registration_link_key: Path
) -> AsyncIterator[Service]:
    async with registration_app("nat", portal_url="https://csm.example") as running:
        yield Service(
            running.client, running.dsn, auth_keys.headers("national-admin"), registration_link_key
        )


def email() -> str:
    return f"{secrets.token_hex(4)}@dfe.example"


async def organisation(s: Service) -> str:
    c = "N" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(3))
    r = await s.client.post(
        "/organisations",
        json={"code": c, "name": f"{c} PCT", "kind": "pct", "region": "london"},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    return c


async def signed_up(s: Service, to: str) -> dict[str, Any]:
    conn = await asyncpg.connect(s.dsn)
    try:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE type = 'registration.AccountCreated' "
            "AND data->>'email' = $1 ORDER BY position DESC LIMIT 1",
            to,
        )
    finally:
        await conn.close()
    token = LinkTokens.from_file(s.link_key).set_up_token(json.loads(data)["setup_id"])
    r = await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
    assert r.status_code == 204, r.text
    r = await s.client.post("/auth/sign-in", json={"email": to, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json())


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


async def test_list_and_disable_a_national_account(service: Any, auth_keys: Any) -> None:
    s = service
    auditor = email()
    r = await s.client.post(
        "/accounts",
        json={"email": auditor, "name": "Ada Auditor", "role": "auditor"},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    account_id = r.json()["account_id"]
    listed = await s.client.get("/accounts", headers=s.admin)
    assert listed.status_code == 200
    mine = next(a for a in listed.json() if a["account_id"] == account_id)
    assert (mine["email"], mine["roles"], mine["status"]) == (auditor, ["auditor"], "pending")
    tokens = await signed_up(s, auditor)
    assert (await s.client.get("/auth/me", headers=bearer(tokens))).status_code == 200

    r = await s.client.post(
        f"/accounts/{account_id}/disable", json={"reason": "left the team"}, headers=s.admin
    )
    assert r.status_code == 204, r.text
    listed = await s.client.get("/accounts", headers=s.admin)
    assert next(a for a in listed.json() if a["account_id"] == account_id)["status"] == "disabled"
    signed_in = await s.client.post("/auth/sign-in", json={"email": auditor, "password": PASSWORD})
    assert signed_in.status_code == 401
    refreshed = await s.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    # Again: nothing changes.
    again = await s.client.post(
        f"/accounts/{account_id}/disable", json={"reason": "twice"}, headers=s.admin
    )
    assert again.status_code == 204


async def test_what_cannot_be_disabled(service: Any, auth_keys: Any) -> None:
    s = service
    me = {"authorization": f"Bearer {auth_keys.token('national-admin', user_id='a' * 32)}"}
    own = await s.client.post(
        "/accounts/" + "a" * 32 + "/disable", json={"reason": "x"}, headers=me
    )
    assert own.status_code == 422 and own.json()["details"][0]["field"] == "account_id"
    org = await organisation(s)
    lead = await s.client.put(
        f"/organisations/{org}/lead", json={"email": email(), "name": "L"}, headers=s.admin
    )
    lead_id = lead.json()["account_id"]
    r = await s.client.post(f"/accounts/{lead_id}/disable", json={"reason": "x"}, headers=s.admin)
    assert r.status_code == 404
    assert all(
        a["account_id"] != lead_id
        for a in (await s.client.get("/accounts", headers=s.admin)).json()
    )
    empty = await s.client.post(
        f"/accounts/{lead_id}/disable", json={"reason": ""}, headers=s.admin
    )
    assert empty.status_code == 422


async def test_people_are_named_only_to_those_who_may_know_them(
    service: Any, auth_keys: Any
) -> None:
    """`GET /people`: the national team and auditors know everyone; a lead knows their own
    organisation's accounts; of anyone else only where they belong is said, never who."""
    s = service
    org, other = await organisation(s), await organisation(s)
    ann, bob = email(), email()
    lead = await s.client.put(
        f"/organisations/{org}/lead", json={"email": ann, "name": "Ann Lead"}, headers=s.admin
    )
    elsewhere = await s.client.put(
        f"/organisations/{other}/lead", json={"email": bob, "name": "Bob Lead"}, headers=s.admin
    )
    national = await s.client.post(
        "/accounts",
        json={"email": email(), "name": "Nia National", "role": "national-admin"},
        headers=s.admin,
    )
    ann_id, bob_id = lead.json()["account_id"], elsewhere.json()["account_id"]
    nia_id = national.json()["account_id"]
    ids = [ann_id, bob_id, nia_id, "0" * 32]

    async def ask(headers: dict[str, str]) -> dict[str, dict[str, Any]]:
        r = await s.client.get("/people", params=[("id", i) for i in ids], headers=headers)
        assert r.status_code == 200, r.text
        return {p["account_id"]: p for p in r.json()}

    for role in ("national-admin", "auditor"):
        seen = await ask(auth_keys.headers(role))
        assert set(seen) == {ann_id, bob_id, nia_id}  # no account of the last id
        assert (seen[bob_id]["name"], seen[bob_id]["email"]) == ("Bob Lead", bob)
        assert seen[bob_id]["organisation_name"] == f"{other} PCT"
        assert seen[nia_id]["name"] == "Nia National" and seen[nia_id]["national"]
    as_lead = await ask(auth_keys.headers("mapping-lead", org=org))
    assert (as_lead[ann_id]["name"], as_lead[ann_id]["email"]) == ("Ann Lead", ann)
    assert as_lead[bob_id] == {
        "account_id": bob_id,
        "name": None,
        "email": None,
        "organisation_id": other,
        "organisation_name": f"{other} PCT",
        "national": False,
    }
    assert as_lead[nia_id]["name"] is None and as_lead[nia_id]["national"]
    regulator = await ask(auth_keys.headers("regulator"))
    assert all(p["name"] is None for p in regulator.values())
    # Oneself, always; and no question without an id.
    me = {"authorization": f"Bearer {auth_keys.token('regulator', user_id=nia_id)}"}
    assert (await ask(me))[nia_id]["email"] is not None
    assert (await s.client.get("/people", headers=s.admin)).status_code == 422
