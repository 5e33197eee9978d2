"""Signing in through the portal to the real registration service (in-process, on the suite's
PostgreSQL): the portal passes on each person's own address with its key's proof, so a
stranger failing at another address, or on the person's own network, does not lock the person
out; and the browser keeps its trusted-device token in an HttpOnly cookie sent only to
/sign-in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.links import LinkTokens, ensure_link_key
from csm_kernel.settings import ServiceSettings
from portal.bootstrap import build_app as build_portal
from portal.settings import PortalSettings
from registration.bootstrap import build_app as build_registration
from registration.domain.credentials import SignInPolicy

PASSWORD = "correct horse battery staple"
PORTAL = "https://portal.test"


@dataclass
class Stack:
    registration: httpx.AsyncClient
    portal: FastAPI
    dsn: str
    admin: dict[str, str]
    link_key: Path


@pytest.fixture(scope="module")
async def stack(
    infra: Any, auth_keys: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    keys = tmp_path_factory.mktemp("portal-sign-in")
    link_key, portal_key = ensure_link_key(keys / "links.key"), ensure_link_key(keys / "portal.key")
    dsn = await infra.create_database("portal_sign_in")
    registration = build_registration(
        ServiceSettings(
            database_url=dsn,
            kafka_bootstrap=infra.bootstrap,
            smtp_port=infra.smtp_port,
            auth_public_key_file=auth_keys.public_file,
            auth_private_key_file=auth_keys.private_file,
            link_key_file=link_key,
            portal_key_file=portal_key,
        )
    )
    lifespan = registration.router.lifespan_context(registration)
    await lifespan.__aenter__()
    try:
        # Production thresholds, small delays.
        registration.state.sign_in.policy = SignInPolicy(
            first_delay_seconds=0.001, max_delay_seconds=0.004
        )
        transport = httpx.ASGITransport(app=registration)
        clients = {
            "registration": httpx.AsyncClient(transport=transport, base_url="http://registration"),
            **{
                name: httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=FastAPI()), base_url=f"http://{name}"
                )
                for name in ("questionnaire", "reporting", "notification")
            },
        }
        portal = build_portal(
            PortalSettings(
                mailbox_auto=False,
                auth_public_key_file=auth_keys.public_file,
                portal_key_file=portal_key,
            ),
            clients=clients,
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as direct:
            yield Stack(direct, portal, dsn, auth_keys.headers("national-admin"), link_key)
    finally:
        async with asyncio.timeout(30):
            await lifespan.__aexit__(None, None, None)


@contextlib.asynccontextmanager
async def browser(s: Stack, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser at a network address: cookies kept, redirects not followed."""
    transport = httpx.ASGITransport(app=s.portal, client=(address, 50123))
    async with httpx.AsyncClient(
        transport=transport, base_url=PORTAL, headers={"origin": PORTAL}
    ) as client:
        yield client


class _Hidden(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.fields[str(a["name"])] = a.get("value") or ""


async def sign_in(browser: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """Fill in the sign-in form as a person does (with whatever hidden fields it carries)."""
    page = await browser.get("/sign-in")
    assert page.status_code == 200
    hidden = _Hidden()
    hidden.feed(page.text)
    return await browser.post(
        "/sign-in", data={**hidden.fields, "email": email, "password": password}
    )


async def lead(s: Stack) -> str:
    """A mapping lead with a password."""
    org = "P" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ") for _ in range(4))
    r = await s.registration.post(
        "/organisations",
        json={"code": org, "name": f"{org} PCT", "kind": "pct", "region": "london"},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    email = f"{secrets.token_hex(5)}@trust.nhs.uk"
    r = await s.registration.put(
        f"/organisations/{org}/lead", json={"email": email, "name": "Lead"}, headers=s.admin
    )
    assert r.status_code == 201, r.text
    conn = await asyncpg.connect(s.dsn)
    try:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE type = 'registration.AccountCreated' "
            "AND data->>'email' = $1",
            email,
        )
    finally:
        await conn.close()
    token = LinkTokens.from_file(s.link_key).set_up_token(json.loads(data)["setup_id"])
    r = await s.registration.post("/auth/set-up", json={"token": token, "password": PASSWORD})
    assert r.status_code == 204, r.text
    return email


def refused_for_too_many(page: httpx.Response) -> bool:
    return page.status_code == 422 and "too many failed sign-ins" in page.text


async def test_a_stranger_elsewhere_does_not_lock_the_person_out(stack: Stack) -> None:
    email = await lead(stack)
    async with browser(stack, "203.0.113.7") as stranger:
        for _ in range(10):
            r = await sign_in(stranger, email, "not the password at all")
            assert "Enter a correct email address and password" in r.text
        assert refused_for_too_many(await sign_in(stranger, email, PASSWORD))
    async with browser(stack, "198.51.100.4") as person:
        r = await sign_in(person, email, PASSWORD)
    assert r.status_code == 303, r.text
    device = next(c for c in r.headers.get_list("set-cookie") if c.startswith("csm_device="))
    assert "HttpOnly" in device and "Secure" in device
    assert re.search(r"(?i)samesite=strict", device) and "Path=/sign-in" in device


async def test_the_persons_browser_is_not_locked_by_a_stranger_on_the_same_network(
    stack: Stack,
) -> None:
    email, office = await lead(stack), "192.0.2.50"
    async with browser(stack, office) as person:
        assert (await sign_in(person, email, PASSWORD)).status_code == 303
        async with browser(stack, office) as colleague:
            for _ in range(10):
                await sign_in(colleague, email, "not the password at all")
            assert refused_for_too_many(await sign_in(colleague, email, PASSWORD))
        # Signed out or not, the person's browser still holds its device cookie.
        await person.post("/sign-out")
        assert (await sign_in(person, email, PASSWORD)).status_code == 303
