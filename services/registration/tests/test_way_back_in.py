"""A way back in, on the real app and PostgreSQL: a forgotten password's reset link, a new
set-up link asked for by the person or sent by the national team, and what a link is before
anyone types a password. Nothing says whether an address has an account; requests are
limited per address and per client."""

from __future__ import annotations

import json
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_contracts.events.accounts import PASSWORD_RESET_LINK
from csm_kernel.clock import FixedClock
from csm_kernel.links import LinkTokens
from registration.application.way_back_in import SENT, LinkRequestPolicy, WayBackIn
from registration.domain.credentials import SignInPolicy

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different long passphrase"
ROOMY = LinkRequestPolicy(per_address=50, per_client=10_000)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    admin: dict[str, str]
    tokens: LinkTokens

    @property
    def way(self) -> WayBackIn:
        found: WayBackIn = self.app.state.way_back_in
        return found


@pytest.fixture(scope="module")
async def service(
    registration_app: Any, auth_keys: Any, registration_link_key: Path
) -> AsyncIterator[Service]:
    async with registration_app("way") as running:
        running.app.state.way_back_in.policy = ROOMY
        # Fast enough for a test, same shape as production: slow down, then lock.
        running.app.state.sign_in.policy = SignInPolicy(
            slow_after=2, lock_after=4, max_delay_seconds=0.05
        )
        yield Service(
            running.app,
            running.client,
            running.dsn,
            auth_keys.headers("national-admin"),
            LinkTokens.from_file(registration_link_key),
        )


def address() -> str:
    return f"{secrets.token_hex(4)}@trust.nhs.uk"


async def events(s: Service, type_: str, email: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(s.dsn)
    try:
        rows = await conn.fetch(
            "SELECT data FROM events WHERE type = $1 AND data->>'email' = $2 ORDER BY position",
            f"registration.{type_}",
            email,
        )
    finally:
        await conn.close()
    return [json.loads(r["data"]) for r in rows]


async def new_lead(s: Service, to: str) -> tuple[str, str]:
    """A lead of a new organisation, not set up yet: (organisation code, set-up token)."""
    code = "W" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(3))
    r = await s.client.post(
        "/organisations",
        json={"code": code, "name": f"{code} PCT", "kind": "pct", "region": "london"},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    r = await s.client.put(
        f"/organisations/{code}/lead", json={"email": to, "name": "Wyn"}, headers=s.admin
    )
    assert r.status_code == 201, r.text
    [created] = await events(s, "AccountCreated", to)
    return code, s.tokens.set_up_token(created["setup_id"])


async def active_lead(s: Service, to: str) -> tuple[str, dict[str, Any]]:
    code, token = await new_lead(s, to)
    r = await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
    assert r.status_code == 204, r.text
    r = await s.client.post("/auth/sign-in", json={"email": to, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return code, r.json()


async def check(s: Service, token: str, purpose: str = "reset") -> dict[str, Any]:
    r = await s.client.post("/auth/links/check", json={"token": token, "purpose": purpose})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def forgot(s: Service, email: str) -> httpx.Response:
    return await s.client.post("/auth/password-reset-requests", json={"email": email})


def reset_token(s: Service, event: dict[str, Any]) -> str:
    return s.tokens.token(PASSWORD_RESET_LINK, event["reset_id"])


async def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(
    service: Service,
) -> None:
    s = service
    active, pending, unknown = address(), address(), address()
    await active_lead(s, active)
    await new_lead(s, pending)
    answers = {e: await forgot(s, e) for e in (active, pending, unknown)}
    for r in answers.values():
        assert r.status_code == 202
        assert r.json() == {"message": SENT}
    shapes = {
        tuple(sorted((k, v) for k, v in r.headers.items() if k != "content-length"))
        for r in answers.values()
    }
    assert len(shapes) == 1
    # Only the account's holder is emailed, and what depends on the account's state.
    assert len(await events(s, "PasswordResetRequested", active)) == 1
    assert len(await events(s, "SetUpLinkReissued", pending)) == 1
    assert await events(s, "PasswordResetRequested", unknown) == []
    assert await events(s, "SetUpLinkReissued", unknown) == []


async def test_known_and_unknown_addresses_take_about_as_long(service: Service) -> None:
    s = service
    known = address()
    await active_lead(s, known)
    took: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(4):
        for kind, email in (("known", known), ("unknown", address())):
            started = time.monotonic()
            assert (await forgot(s, email)).status_code == 202
            took[kind].append(time.monotonic() - started)
    floor = s.way.answer_floor.total_seconds()
    assert min(took["known"] + took["unknown"]) >= floor
    gap = abs(statistics.median(took["known"]) - statistics.median(took["unknown"]))
    assert gap < 0.15, took


async def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    service: Service,
) -> None:
    s = service
    to = address()
    _, tokens = await active_lead(s, to)
    assert (await forgot(s, to)).status_code == 202
    [requested] = await events(s, "PasswordResetRequested", to)
    token = reset_token(s, requested)
    status = await check(s, token)
    assert status["state"] == "usable" and status["ask"] == "national-team"

    weak = await s.client.post("/auth/reset-password", json={"token": token, "password": "x"})
    assert weak.status_code == 422 and weak.json()["details"][0]["field"] == "password"
    r = await s.client.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 204, r.text

    # Every session of the account has ended: the old tokens work no more.
    me = await s.client.get(
        "/auth/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 401
    refreshed = await s.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    old = await s.client.post("/auth/sign-in", json={"email": to, "password": PASSWORD})
    assert old.status_code == 401
    new = await s.client.post("/auth/sign-in", json={"email": to, "password": NEW_PASSWORD})
    assert new.status_code == 200

    assert (await check(s, token))["state"] == "used"
    again = await s.client.post(
        "/auth/reset-password", json={"token": token, "password": "yet another long one"}
    )
    assert again.status_code == 422 and again.json()["details"][0]["field"] == "token"
    conn = await asyncpg.connect(s.dsn)
    try:
        reset = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'registration.PasswordReset' "
            "AND data->>'account_id' = $1",
            requested["account_id"],
        )
        stored = str([dict(r) for r in await conn.fetch("SELECT * FROM setup_links")])
    finally:
        await conn.close()
    assert reset == 1
    assert token not in stored


async def test_a_reset_lifts_a_lockout_on_its_address(service: Service) -> None:
    s = service
    to = address()
    await active_lead(s, to)
    policy = s.app.state.sign_in.policy
    for _ in range(policy.lock_after):
        await s.client.post("/auth/sign-in", json={"email": to, "password": "wrong guess 123"})
    locked = await s.client.post("/auth/sign-in", json={"email": to, "password": PASSWORD})
    assert locked.status_code == 429
    await forgot(s, to)
    [requested] = await events(s, "PasswordResetRequested", to)
    r = await s.client.post(
        "/auth/reset-password", json={"token": reset_token(s, requested), "password": NEW_PASSWORD}
    )
    assert r.status_code == 204
    new = await s.client.post("/auth/sign-in", json={"email": to, "password": NEW_PASSWORD})
    assert new.status_code == 200


async def test_a_newer_reset_link_supersedes_the_older_and_links_expire(
    service: Service,
) -> None:
    s = service
    to = address()
    await active_lead(s, to)
    await forgot(s, to)
    await forgot(s, to)
    first, second = (reset_token(s, e) for e in await events(s, "PasswordResetRequested", to))
    assert (await check(s, first))["state"] == "superseded"
    assert (await check(s, second))["state"] == "usable"
    refused = await s.client.post(
        "/auth/reset-password", json={"token": first, "password": NEW_PASSWORD}
    )
    assert refused.status_code == 422

    before = s.way.clock
    s.way.clock = FixedClock(datetime.now(UTC) + s.way.reset_lifetime + timedelta(seconds=1))
    try:
        assert (await check(s, second))["state"] == "expired"
        late = await s.client.post(
            "/auth/reset-password", json={"token": second, "password": NEW_PASSWORD}
        )
        assert late.status_code == 422
    finally:
        s.way.clock = before


async def test_a_link_of_one_purpose_never_passes_for_the_other(service: Service) -> None:
    s = service
    to = address()
    _, set_up = await new_lead(s, to)
    assert (await check(s, set_up, "reset"))["state"] == "not-valid"
    as_reset = await s.client.post(
        "/auth/reset-password", json={"token": set_up, "password": NEW_PASSWORD}
    )
    assert as_reset.status_code == 422
    assert (await check(s, set_up, "set-up"))["state"] == "usable"
    assert (await check(s, "forged.token", "set-up"))["state"] == "not-valid"


async def test_the_person_gets_a_new_set_up_link_and_the_old_one_stops_working(
    service: Service,
) -> None:
    s = service
    to = address()
    _, old = await new_lead(s, to)
    r = await s.client.post("/auth/set-up-link-requests", json={"email": to})
    assert r.status_code == 202 and r.json() == {"message": SENT}
    [reissued] = await events(s, "SetUpLinkReissued", to)
    assert reissued["requested_by"] == "self" and reissued["roles"] == ["mapping-lead"]
    new = s.tokens.set_up_token(reissued["setup_id"])
    assert (await check(s, old, "set-up"))["state"] == "superseded"
    refused = await s.client.post("/auth/set-up", json={"token": old, "password": PASSWORD})
    assert refused.status_code == 422
    done = await s.client.post("/auth/set-up", json={"token": new, "password": PASSWORD})
    assert done.status_code == 204
    assert (await check(s, new, "set-up"))["state"] == "used"


async def test_the_national_team_sends_a_lead_not_set_up_a_new_link(service: Service) -> None:
    s = service
    to = address()
    code, old = await new_lead(s, to)
    lead = await s.client.get(f"/organisations/{code}/lead", headers=s.admin)
    assert lead.status_code == 200 and lead.json()["status"] == "pending"
    account_id = lead.json()["account_id"]
    r = await s.client.post(f"/accounts/{account_id}/set-up-link", headers=s.admin)
    assert r.status_code == 201, r.text
    [reissued] = await events(s, "SetUpLinkReissued", to)
    assert reissued["requested_by"] != "self"
    assert (await check(s, old, "set-up"))["state"] == "superseded"
    new = s.tokens.set_up_token(reissued["setup_id"])
    assert (
        await s.client.post("/auth/set-up", json={"token": new, "password": PASSWORD})
    ).status_code == 204
    lead = await s.client.get(f"/organisations/{code}/lead", headers=s.admin)
    assert lead.json()["status"] == "active"
    set_up_already = await s.client.post(f"/accounts/{account_id}/set-up-link", headers=s.admin)
    assert set_up_already.status_code == 409


async def test_a_group_owners_link_says_to_ask_their_mapping_lead(service: Service) -> None:
    s = service
    code, _ = await new_lead(s, address())
    owner = address()
    r = await s.client.post(
        f"/organisations/{code}/groups",
        json={"name": "North Locality", "kind": "locality", "owner": {"email": owner, "name": "O"}},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    [created] = await events(s, "AccountCreated", owner)
    assert created["group_name"] == "North Locality"
    status = await check(s, s.tokens.set_up_token(created["setup_id"]), "set-up")
    assert status == {
        "purpose": "set-up",
        "state": "usable",
        "expires_at": status["expires_at"],
        "ask": "mapping-lead",
    }


async def test_requests_are_limited_per_address_and_per_client_alike(service: Service) -> None:
    s = service
    s.way.policy = LinkRequestPolicy(per_address=2, per_client=10_000)
    try:
        known, unknown = address(), address()
        await active_lead(s, known)
        for email in (known, unknown):
            assert [(await forgot(s, email)).status_code for _ in range(2)] == [202, 202]
            limited = await forgot(s, email)
            assert limited.status_code == 429
            assert 1 <= int(limited.headers["retry-after"]) <= 3600
        # The other route counts against the same address.
        other = await s.client.post("/auth/set-up-link-requests", json={"email": known})
        assert other.status_code == 429
        assert len(await events(s, "PasswordResetRequested", known)) == 2

        s.way.policy = LinkRequestPolicy(per_address=50, per_client=0)
        per_client = await forgot(s, address())
        assert per_client.status_code == 429 and "retry-after" in per_client.headers
    finally:
        s.way.policy = ROOMY


async def test_bad_addresses_are_refused_by_field(service: Service) -> None:
    r = await forgot(service, "not an address")
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "email"


def test_the_limits_429_and_its_retry_after_are_documented(service: Service) -> None:
    paths = service.app.openapi()["paths"]
    for path in ("/auth/password-reset-requests", "/auth/set-up-link-requests"):
        responses = paths[path]["post"]["responses"]
        assert set(responses) >= {"202", "422", "429"}
        assert "Retry-After" in responses["429"]["headers"]
        assert "whether it has an account or not" in responses["429"]["description"]
