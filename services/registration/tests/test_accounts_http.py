"""Accounts end to end on the real app, PostgreSQL and SMTP sink: a lead is nominated, gets a
set-up link by email, sets a password, signs in, refreshes, signs out; failures slow down and
lock; a replaced lead loses access; a group owner sees only their group; no secret leaks."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.clock import FixedClock
from csm_kernel.links import LinkTokens
from registration.domain.credentials import SignInPolicy

PASSWORD = "correct horse battery staple"


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    admin: dict[str, str]
    infra: Any
    link_key: Path


@pytest.fixture(scope="module")
async def service(
    registration_app: Any, infra: Any, auth_keys: Any, registration_link_key: Path
) -> AsyncIterator[Service]:
    async with registration_app("acc", portal_url="https://csm.example") as running:
        # Fast enough for a test, same shape as production: slow down, then lock.
        running.app.state.sign_in.policy = SignInPolicy(
            slow_after=2, lock_after=4, max_delay_seconds=0.05
        )
        yield Service(
            running.app,
            running.client,
            running.dsn,
            auth_keys.headers("national-admin"),
            infra,
            registration_link_key,
        )


def code() -> str:
    # Four random characters (codes are 3 to 5): with three, ~50 organisations collided once.
    return "L" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(4))


def email() -> str:
    return f"{secrets.token_hex(4)}@trust.nhs.uk"


async def organisation(s: Service) -> str:
    c = code()
    r = await s.client.post(
        "/organisations",
        json={"code": c, "name": f"{c} PCT", "kind": "pct", "region": "london"},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    return c


async def setup_token(s: Service, to: str) -> str:
    """The token of `to`'s set-up link, made as the notification service makes it for the
    email (from the set-up id `AccountCreated` carries); tests/e2e follow the real email."""
    conn = await asyncpg.connect(s.dsn)
    try:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE type = 'registration.AccountCreated' "
            "AND data->>'email' = $1 ORDER BY position DESC LIMIT 1",
            to,
        )
    finally:
        await conn.close()
    assert data is not None, f"no account created for {to}"
    return LinkTokens.from_file(s.link_key).set_up_token(json.loads(data)["setup_id"])


async def signed_up(s: Service, to: str) -> dict[str, Any]:
    token = await setup_token(s, to)
    r = await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
    assert r.status_code == 204, r.text
    r = await s.client.post("/auth/sign-in", json={"email": to, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


async def test_a_nominated_lead_sets_a_password_and_signs_in(service: Service) -> None:
    s, org, lead = service, await organisation(service), email()
    r = await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "Ann Lead"}, headers=s.admin
    )
    assert r.status_code == 201, r.text

    token = await setup_token(s, lead)
    weak = await s.client.post("/auth/set-up", json={"token": token, "password": "short"})
    assert weak.status_code == 422
    assert weak.json()["details"][0]["field"] == "password"
    assert (
        await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
    ).status_code == 204
    again = await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
    assert again.status_code == 422  # one use only

    tokens = (
        await s.client.post("/auth/sign-in", json={"email": lead, "password": PASSWORD})
    ).json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    me = (await s.client.get("/auth/me", headers=bearer(tokens))).json()
    assert me["roles"] == ["mapping-lead"] and me["organisation_id"] == org
    own = await s.client.get(f"/organisations/{org}", headers=bearer(tokens))
    assert own.status_code == 200
    other = await s.client.get(f"/organisations/{await organisation(s)}", headers=bearer(tokens))
    assert other.status_code == 404
    assert (
        await s.client.put(
            f"/organisations/{org}/lead",
            json={"email": email(), "name": "X"},
            headers=bearer(tokens),
        )
    ).status_code == 403


async def test_wrong_password_and_unknown_email_look_the_same(service: Service) -> None:
    s, org, lead = service, await organisation(service), email()
    await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "B"}, headers=s.admin
    )
    await signed_up(s, lead)
    wrong = await s.client.post("/auth/sign-in", json={"email": lead, "password": "nope" * 4})
    unknown = await s.client.post("/auth/sign-in", json={"email": email(), "password": "nope" * 4})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_repeated_failures_lock_the_address_from_that_client(service: Service) -> None:
    s, org, lead = service, await organisation(service), email()
    await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "C"}, headers=s.admin
    )
    await signed_up(s, lead)
    for _ in range(4):
        r = await s.client.post("/auth/sign-in", json={"email": lead, "password": "x" * 12})
        assert r.status_code == 401
    locked = await s.client.post("/auth/sign-in", json={"email": lead, "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    conn = await asyncpg.connect(s.dsn)
    try:
        locks = await conn.fetch(
            "SELECT * FROM sign_in_client_failures WHERE locked_until IS NOT NULL"
        )
    finally:
        await conn.close()
    # The lock is the (address, client) pair's, kept under keyed hashes only.
    assert locks and lead not in str([dict(r) for r in locks])
    assert all(len(r["address_key"]) == 64 for r in locks)


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    service: Service,
) -> None:
    s, org, lead = service, await organisation(service), email()
    await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "D"}, headers=s.admin
    )
    first = await signed_up(s, lead)
    second = (
        await s.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await s.client.get("/auth/me", headers=bearer(second))).status_code == 200
    # Past the grace window for racing requests (tests/test_refresh_grace.py).
    sign_in = s.app.state.sign_in
    before = sign_in.clock
    sign_in.clock = FixedClock(before.now() + sign_in.refresh_grace + timedelta(seconds=1))
    try:
        replay = await s.client.post(
            "/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
    finally:
        sign_in.clock = before
    assert replay.status_code == 401
    # The leak ends the whole session: the latest tokens stop working too.
    assert (
        await s.client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).status_code == 401
    assert (await s.client.get("/auth/me", headers=bearer(second))).status_code == 401


async def test_sign_out_revokes_the_session(service: Service) -> None:
    s, org, lead = service, await organisation(service), email()
    await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "E"}, headers=s.admin
    )
    tokens = await signed_up(s, lead)
    assert (await s.client.post("/auth/sign-out", headers=bearer(tokens))).status_code == 204
    assert (await s.client.get("/auth/me", headers=bearer(tokens))).status_code == 401
    assert (
        await s.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401


async def test_replacing_the_lead_ends_the_old_leads_access(service: Service) -> None:
    s, org, old, new = service, await organisation(service), email(), email()
    await s.client.put(
        f"/organisations/{org}/lead", json={"email": old, "name": "Old"}, headers=s.admin
    )
    old_tokens = await signed_up(s, old)
    r = await s.client.put(
        f"/organisations/{org}/lead", json={"email": new, "name": "New"}, headers=s.admin
    )
    assert r.status_code == 201
    assert (
        await s.client.get(f"/organisations/{org}", headers=bearer(old_tokens))
    ).status_code == 401
    assert (
        await s.client.post("/auth/sign-in", json={"email": old, "password": PASSWORD})
    ).status_code == 401
    new_tokens = await signed_up(s, new)
    history = (
        await s.client.get(f"/organisations/{org}/lead/history", headers=bearer(new_tokens))
    ).json()
    assert [h["email"] for h in history] == [old, new]
    assert history[1]["replaces_account_id"] == history[0]["account_id"]


async def test_many_leads_are_nominated_in_one_request_each_refusal_in_its_place(
    service: Service,
) -> None:
    s = service
    orgs = [await organisation(s) for _ in range(3)]
    leads = [email() for _ in orgs]
    taken = email()
    await s.client.put(
        f"/organisations/{orgs[2]}/lead", json={"email": taken, "name": "Kept"}, headers=s.admin
    )
    body = {
        "leads": [
            {"code": orgs[0], "email": leads[0], "name": "Ann Lead"},
            {"code": "ZZNONE", "email": email(), "name": "Nobody"},
            {"code": orgs[1], "email": taken, "name": "Taken"},  # another account's email
            {"code": orgs[1], "email": leads[1], "name": "Bob Lead"},
            {"code": orgs[2], "email": taken, "name": "Kept"},  # the current lead again
        ]
    }
    r = await s.client.post("/organisations/leads", json=body, headers=s.admin)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["nominated"], got["refused"]) == (3, 2)
    assert [o["status"] for o in got["outcomes"]] == [None, 404, 409, None, None]
    assert "ZZNONE" in got["outcomes"][1]["reason"] and taken in got["outcomes"][2]["reason"]
    # Each nominated lead is the organisation's lead, with a set-up link, as one by one.
    for org, lead in ((orgs[0], leads[0]), (orgs[1], leads[1]), (orgs[2], taken)):
        current = await s.client.get(f"/organisations/{org}/lead", headers=s.admin)
        assert current.json()["email"] == lead and current.json()["status"] == "pending"
    assert (await signed_up(s, leads[1]))["access_token"]
    # A refusal rolled back only itself: the refused email made no account for orgs[1].
    history = await s.client.get(f"/organisations/{orgs[1]}/lead/history", headers=s.admin)
    assert [h["email"] for h in history.json()] == [leads[1]]

    # Only the national team; at most 1,000 a request; each field checked.
    lead = {"authorization": ""}
    assert (await s.client.post("/organisations/leads", json=body, headers=lead)).status_code == 401
    too_many = {"leads": [body["leads"][0]] * 1001}
    r = await s.client.post("/organisations/leads", json=too_many, headers=s.admin)
    assert r.status_code == 422
    bad = {"leads": [{"code": orgs[0], "email": "not-an-email", "name": "X"}]}
    r = await s.client.post("/organisations/leads", json=bad, headers=s.admin)
    assert r.status_code == 422 and "email" in r.text


async def test_a_group_owner_sees_only_their_group(service: Service) -> None:
    s, org, lead, owner = service, await organisation(service), email(), email()
    await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "F"}, headers=s.admin
    )
    lead_tokens = await signed_up(s, lead)
    groups = []
    for name, who in (("North locality", owner), ("South locality", email())):
        r = await s.client.post(
            f"/organisations/{org}/groups",
            json={"name": name, "kind": "locality", "owner": {"email": who, "name": name}},
            headers=bearer(lead_tokens),
        )
        assert r.status_code == 201, r.text
        groups.append(r.json()["group_id"])
    owner_tokens = await signed_up(s, owner)
    me = (await s.client.get("/auth/me", headers=bearer(owner_tokens))).json()
    assert me["roles"] == ["group-owner"] and me["group_id"] == groups[0]
    assert (
        await s.client.get(f"/groups/{groups[0]}", headers=bearer(owner_tokens))
    ).status_code == 200
    assert (
        await s.client.get(f"/groups/{groups[1]}", headers=bearer(owner_tokens))
    ).status_code == 404
    listed = (
        await s.client.get(f"/organisations/{org}/groups", headers=bearer(owner_tokens))
    ).json()
    assert [g["group_id"] for g in listed] == [groups[0]]
    all_groups = (
        await s.client.get(f"/organisations/{org}/groups", headers=bearer(lead_tokens))
    ).json()
    assert {g["group_id"] for g in all_groups} == set(groups)


async def test_no_secret_is_stored_in_an_event_or_in_clear(service: Service) -> None:
    s, org, lead = service, await organisation(service), email()
    await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "G"}, headers=s.admin
    )
    link_token = await setup_token(s, lead)
    tokens = await signed_up(s, lead)
    conn = await asyncpg.connect(s.dsn)
    try:
        dumps = []
        tables = (
            "events",
            "accounts",
            "setup_tokens",
            "sessions",
            "setup_mail_outbox",
            "trusted_devices",
            "sign_in_client_failures",
            "sign_in_address_failures",
        )
        for table in tables:
            dumps += [str(dict(r)) for r in await conn.fetch(f"SELECT * FROM {table}")]
    finally:
        await conn.close()
    everything = "\n".join(dumps)
    for secret in (
        PASSWORD,
        link_token,
        tokens["refresh_token"],
        tokens["access_token"],
        tokens["device_token"],
    ):
        assert secret not in everything
    assert "$argon2id$" in everything  # the password is there only as an argon2id hash


async def test_national_accounts_and_their_roles(service: Service) -> None:
    s = service
    auditor = email()
    r = await s.client.post(
        "/accounts", json={"email": auditor, "name": "Aud", "role": "auditor"}, headers=s.admin
    )
    assert r.status_code == 201
    dup = await s.client.post(
        "/accounts", json={"email": auditor, "name": "A", "role": "auditor"}, headers=s.admin
    )
    assert dup.status_code == 409
    bad = await s.client.post(
        "/accounts", json={"email": email(), "name": "X", "role": "lead"}, headers=s.admin
    )
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "role"
    tokens = await signed_up(s, auditor)
    org = await organisation(s)
    assert (await s.client.get(f"/organisations/{org}", headers=bearer(tokens))).status_code == 200
    assert (
        await s.client.post(
            "/accounts",
            json={"email": email(), "name": "Y", "role": "auditor"},
            headers=bearer(tokens),
        )
    ).status_code == 403
