"""The services under attack: each started for real (its own PostgreSQL database, the suite's
broker and SMTP sink, the suite's keys), seeded with a little real data, and the identities that
attack it.

Seeding goes through each service's own API where it has one for the purpose (organisations,
leads, groups, services, cycles, delegations, answers, bulletins, reminders); what a service only
learns from another's events (questionnaire's organisations, notification's leads, reporting's
journal) is handed to the same handler its consumer calls, with a real envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from csm_contracts.auth import Role
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.accounts import MappingLeadNominated
from csm_contracts.registry import EventPayload
from hostile_api import BASE_URL, Identity, Plan, plan
from hostile_run import report, run
from reporting_history import History

SHUTDOWN_SECONDS = 30
CYCLE = "2009-10"
#: code, kind, partnership areas: a PCT and the council it shares an area with, and a trust.
ORGANISATIONS = (
    ("5A4", "pct", ["00AA"]),
    ("00AA", "local-authority", ["00AA"]),
    ("RT1", "nhs-trust-community", []),
)
LEAD_ORG = "5A4"
TIMETABLE = {
    "sandbox_opens": "2009-10-01T00:00:00+00:00",
    "data_entry_opens": "2009-11-02T00:00:00+00:00",
    "summary_reports": "2010-01-11T00:00:00+00:00",
    "data_entry_closes": "2010-02-28T23:59:59+00:00",
    "publication": "2010-04-06T00:00:00+00:00",
}
#: A day in data entry (2009-10).
OPEN = datetime(2009, 11, 10, 9, 0, tzinfo=UTC)


@dataclass
class Target:
    """A running, seeded service: its app, a client, what exists in it and who attacks it."""

    name: str
    app: FastAPI
    client: httpx.AsyncClient
    known: dict[str, list[Any]]
    identities: list[Identity]
    extra: dict[str, Any] = field(default_factory=dict)

    def identity(self, name: str) -> Identity:
        return next(i for i in self.identities if i.name == name)


def role_identities(auth_keys: Any, org: str, group: str | None) -> list[Identity]:
    """Nobody, and a token of each role (leads and owners of the seeded organisation)."""
    scoped = {Role.MAPPING_LEAD: (org, None), Role.GROUP_OWNER: (org, group)}
    out = [Identity("anonymous")]
    for role in Role:
        o, g = scoped.get(role, (None, None))
        out.append(Identity(role.value, dict(auth_keys.headers(role.value, org=o, group=g))))
    return out


def identity_names() -> list[str]:
    return ["anonymous", *(r.value for r in Role)]


@contextlib.asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan (relay, consumers, loops) and a client over ASGI to it."""
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL, timeout=60
        ) as client:
            yield client
    finally:
        async with asyncio.timeout(SHUTDOWN_SECONDS):
            await lifespan.__aexit__(None, None, None)


async def expect(response: httpx.Response, *status: int) -> Any:
    wanted = status or (200,)
    assert response.status_code in wanted, f"seeding: {response.request.url} {response.text}"
    return response.json() if response.content else None


Delivery = tuple[EventEnvelope, EventPayload]


def event(h: History, payload: EventPayload) -> Delivery:
    """A payload in a real envelope (store position, stream, correlation), as consumers get it."""
    return h.add(payload), payload


async def deliver(pool: Any, handler: Any, events: Sequence[Delivery]) -> None:
    """Hand events to a consumer's handler, each in its own transaction as its consumer would."""
    for env, payload in events:
        async with pool.acquire() as conn, conn.transaction():
            await handler(conn, env, payload)


def organisations_registered(h: History) -> list[Delivery]:
    return [
        event(
            h,
            OrganisationRegistered(
                organisation_id=code,
                code=code,
                kind=kind,
                name=f"Organisation {code}",
                region="london",
                partnership_areas=areas,
            ),
        )
        for code, kind, areas in ORGANISATIONS
    ]


def lead_nominated(h: History, org: str = LEAD_ORG) -> Delivery:
    nominated = MappingLeadNominated(
        organisation_id=org,
        account_id=f"acc-{org}",
        email=f"lead-{org.lower()}@example.org",
        name=f"Lead {org}",
        nominated_by="user:admin",
    )
    return event(h, nominated)


def new_email() -> str:
    return f"{uuid.uuid4().hex[:8]}@example.org"


def link_key_file(directory: Path) -> Path:
    from csm_kernel.links import ensure_link_key

    return ensure_link_key(directory / "links.key")


async def attack(target: Target, who: str, **options: Any) -> None:
    """Send the target's planned requests as `who`; fail listing every server error, and
    every answer whose status the operation's OpenAPI does not document."""
    if "plan" not in target.extra:
        # Drawn once per target, in a thread: the app's loop goes on serving meanwhile.
        options = {
            "per_operation": target.extra.get("examples", {}),
            **target.extra.get("plan_options", {}),
            **options,
        }
        openapi = target.extra.get("openapi") or target.app.openapi()
        target.extra["plan"] = await asyncio.to_thread(plan, openapi, target.known, **options)
    planned: Plan = target.extra["plan"]
    assert planned.requests, f"nothing planned for {target.name}: {planned.problems}"
    anonymous_only = target.extra.get("anonymous_only", ())
    # The portal's pages have no OpenAPI of their own (the suite makes one from its routes).
    documented = None if "openapi" in target.extra else planned.documented
    result = await run(
        target.client, planned.requests, target.identity(who), anonymous_only, documented
    )
    summary, failures = report(f"{target.name} as {who}", [result], planned)
    print(summary)
    assert not failures, summary
