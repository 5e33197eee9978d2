"""Refresh tokens racing themselves, on the real app and PostgreSQL: requests presenting one
refresh token at once (two tabs, a re-render and a Save after the access token expired) all
get the session's current tokens within the grace window; the same token presented after it
is reuse and ends the session."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.clock import FixedClock
from csm_kernel.links import LinkTokens
from registration.application.sign_in import DEFAULT_REFRESH_GRACE, SignIn
from registration.settings import RegistrationSettings

PASSWORD = "correct horse battery staple"


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    admin: dict[str, str]
    link_key: Path

    @property
    def sign_in(self) -> SignIn:
        found: SignIn = self.app.state.sign_in
        return found


@pytest.fixture(scope="module")
async def service(
    registration_app: Any, auth_keys: Any, registration_link_key: Path
) -> AsyncIterator[Service]:
    async with registration_app("grace") as running:
        yield Service(
            running.app,
            running.client,
            running.dsn,
            auth_keys.headers("national-admin"),
            registration_link_key,
        )


async def signed_in(s: Service) -> dict[str, Any]:
    """A new lead of a new organisation, set up and signed in."""
    code = "G" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(3))
    to = f"{secrets.token_hex(4)}@trust.nhs.uk"
    r = await s.client.post(
        "/organisations",
        json={"code": code, "name": f"{code} PCT", "kind": "pct", "region": "london"},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    r = await s.client.put(
        f"/organisations/{code}/lead", json={"email": to, "name": "Gail"}, headers=s.admin
    )
    assert r.status_code == 201, r.text
    conn = await asyncpg.connect(s.dsn)
    try:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE type = 'registration.AccountCreated' "
            "AND data->>'email' = $1",
            to,
        )
    finally:
        await conn.close()
    token = LinkTokens.from_file(s.link_key).set_up_token(json.loads(data)["setup_id"])
    r = await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
    assert r.status_code == 204, r.text
    r = await s.client.post("/auth/sign-in", json={"email": to, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def refresh(s: Service, token: str) -> httpx.Response:
    return await s.client.post("/auth/refresh", json={"refresh_token": token})


async def me(s: Service, tokens: dict[str, Any]) -> int:
    r = await s.client.get(
        "/auth/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    return r.status_code


@pytest.fixture
def clock(service: Service) -> Any:
    """The service's clock, held still (and given back after the test)."""
    before = service.sign_in.clock
    fixed = FixedClock(datetime.now(UTC))
    service.sign_in.clock = fixed
    yield fixed
    service.sign_in.clock = before


def test_the_grace_window_is_ten_seconds_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert timedelta(seconds=10) == DEFAULT_REFRESH_GRACE
    assert RegistrationSettings().refresh_grace_seconds == 10
    monkeypatch.setenv("CSM_REFRESH_GRACE_SECONDS", "3")
    assert RegistrationSettings().refresh_grace_seconds == 3


async def test_concurrent_refreshes_with_one_token_all_succeed_with_the_same_successor(
    service: Service,
) -> None:
    s = service
    tokens = await signed_in(s)
    answers = await asyncio.gather(*(refresh(s, tokens["refresh_token"]) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    successors = {a.json()["refresh_token"] for a in answers}
    assert len(successors) == 1 and tokens["refresh_token"] not in successors
    for a in answers:
        assert await me(s, a.json()) == 200
    # The session goes on from the successor, as if there had been one request.
    later = await refresh(s, successors.pop())
    assert later.status_code == 200
    assert await me(s, later.json()) == 200


async def test_a_token_exchanged_moments_ago_gets_the_current_one_even_two_rotations_on(
    service: Service,
) -> None:
    s = service
    first = await signed_in(s)
    second = (await refresh(s, first["refresh_token"])).json()
    third = (await refresh(s, second["refresh_token"])).json()
    again = await refresh(s, first["refresh_token"])
    assert again.status_code == 200
    assert again.json()["refresh_token"] == third["refresh_token"]


async def test_reuse_at_the_grace_windows_edge_succeeds_and_just_after_ends_the_session(
    service: Service, clock: FixedClock
) -> None:
    s = service
    grace = s.sign_in.refresh_grace
    tokens = await signed_in(s)
    current = (await refresh(s, tokens["refresh_token"])).json()
    clock.advance(grace)
    at_edge = await refresh(s, tokens["refresh_token"])
    assert at_edge.status_code == 200
    assert at_edge.json()["refresh_token"] == current["refresh_token"]

    other = await signed_in(s)
    newer = (await refresh(s, other["refresh_token"])).json()
    clock.advance(grace + timedelta(seconds=1))
    assert (await refresh(s, other["refresh_token"])).status_code == 401
    # Reuse after the window is a leak: the whole session has ended.
    assert (await refresh(s, newer["refresh_token"])).status_code == 401
    assert await me(s, newer) == 401


async def test_with_the_grace_off_any_reuse_ends_the_session(
    service: Service,
) -> None:
    s = service
    before = s.sign_in.refresh_grace
    s.sign_in.refresh_grace = timedelta(0)
    try:
        tokens = await signed_in(s)
        answers = await asyncio.gather(*(refresh(s, tokens["refresh_token"]) for _ in range(2)))
        assert sorted(a.status_code for a in answers) == [200, 401]
        winner = next(a.json() for a in answers if a.status_code == 200)
        assert (await refresh(s, winner["refresh_token"])).status_code == 401
    finally:
        s.sign_in.refresh_grace = before


async def test_a_signed_out_session_is_not_revived_within_the_grace_window(
    service: Service,
) -> None:
    s = service
    tokens = await signed_in(s)
    current = (await refresh(s, tokens["refresh_token"])).json()
    headers = {"authorization": f"Bearer {current['access_token']}"}
    assert (await s.client.post("/auth/sign-out", headers=headers)).status_code == 204
    assert (await refresh(s, tokens["refresh_token"])).status_code == 401
    assert (await refresh(s, current["refresh_token"])).status_code == 401


async def test_only_digests_of_refresh_tokens_are_stored(service: Service) -> None:
    s = service
    tokens = await signed_in(s)
    successor = (await refresh(s, tokens["refresh_token"])).json()["refresh_token"]
    conn = await asyncpg.connect(s.dsn)
    try:
        rows = [dict(r) for r in await conn.fetch("SELECT * FROM spent_refresh_tokens")]
        rows += [dict(r) for r in await conn.fetch("SELECT * FROM sessions")]
    finally:
        await conn.close()
    assert tokens["refresh_token"] not in str(rows) and successor not in str(rows)
