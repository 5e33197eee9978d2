"""The questionnaire app running for real (its own PostgreSQL database, the broker, the suite's
keys) on a clock the test moves, and helpers to put a cycle and its organisations in place."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI

from csm_contracts.events.directory import ServiceRegistered
from csm_contracts.events.registration import OrganisationRegistered
from csm_kernel.clock import FixedClock
from csm_kernel.delegation import DelegationLinks, ensure_delegation_key
from questionnaire.bootstrap import QuestionnaireSettings, build_app

SHUTDOWN_SECONDS = 30

#: The 2009-10 timetable of the briefing.
TIMETABLE = {
    "sandbox_opens": "2009-10-01T00:00:00+00:00",
    "data_entry_opens": "2009-11-02T00:00:00+00:00",
    "summary_reports": "2010-01-11T00:00:00+00:00",
    "data_entry_closes": "2010-02-28T23:59:59+00:00",
    "publication": "2010-04-06T00:00:00+00:00",
}
OPEN = datetime(2009, 11, 10, 9, 0, tzinfo=UTC)
AFTER_CLOSE = datetime(2010, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class RunningQuestionnaire:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    clock: FixedClock
    links: DelegationLinks
    auth: Any
    organisations: dict[str, str] = field(default_factory=dict)

    #: A day in data entry, and a day after the close (2009-10).
    OPEN: ClassVar[datetime] = OPEN
    AFTER_CLOSE: ClassVar[datetime] = AFTER_CLOSE
    SUMMARY: ClassVar[datetime] = datetime(2010, 1, 20, 9, 0, tzinfo=UTC)

    @property
    def services(self) -> Any:
        return self.app.state.services

    def as_(self, *roles: str, org: str | None = None, group: str | None = None) -> dict[str, str]:
        return self.auth.headers(*roles, org=org, group=group)

    @property
    def admin(self) -> dict[str, str]:
        return self.as_("national-admin")

    def lead(self, org: str) -> dict[str, str]:
        return self.as_("mapping-lead", org=org)

    async def registration_event(self, handler: str, event: Any) -> None:
        """Deliver one registration event as the consumer would (its own transaction)."""
        envelope = SimpleNamespace(
            correlation_id=str(uuid.uuid4()), event_id=uuid.uuid4(), occurred_at=self.clock.now()
        )
        pool = self.app.state.runtime.require_pool()
        async with pool.acquire() as conn, conn.transaction():
            await getattr(self.services.follower, handler)(conn, envelope, event)

    async def register(self, code: str, kind: str, name: str | None = None) -> None:
        await self.registration_event(
            "organisation_registered",
            OrganisationRegistered(
                organisation_id=code, code=code, name=name or f"Organisation {code}", kind=kind,
                region="london", partnership_areas=[code] if kind == "local-authority" else [],
            ),
        )  # fmt: skip

    async def map_service(
        self, org: str, cycle: str = "2009-10", *, camhs: bool = False, group: str | None = None
    ) -> str:
        service_id = uuid.uuid4()
        await self.registration_event(
            "service_mapped",
            ServiceRegistered(
                organisation_id=org, service_id=service_id, cycle=cycle,
                name=f"Service {str(service_id)[:6]}", description="", service_type="targeted",
                client_group={"age_min": 0, "age_max": 18}, camhs=camhs,
                camhs_tier=2 if camhs else None, group_id=group, provider_id=org,
                contact={"name": "A Manager", "email": "manager@example.org"},
            ),
        )  # fmt: skip
        return str(service_id)

    async def schedule(self, cycle: str = "2009-10", **timetable: str) -> dict[str, Any]:
        r = await self.client.post(
            "/cycles",
            json={"cycle": cycle, "timetable": {**TIMETABLE, **timetable}},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def move_to(self, at: datetime) -> None:
        self.clock.set(at)
        await self.services.cycles.tick()

    async def owed(self, org: str, cycle: str = "2009-10") -> list[dict[str, Any]]:
        r = await self.client.get(
            "/questionnaires", params={"cycle": cycle}, headers=self.lead(org)
        )
        assert r.status_code == 200, r.text
        return list(r.json())

    async def one(self, org: str, kind: str) -> dict[str, Any]:
        [item] = [q for q in await self.owed(org) if q["kind"] == kind]
        r = await self.client.get(f"/questionnaires/{item['id']}", headers=self.lead(org))
        assert r.status_code == 200, r.text
        return dict(r.json())


QuestionnaireApp = Callable[..., contextlib.AbstractAsyncContextManager[RunningQuestionnaire]]


@pytest.fixture(scope="session")
def delegation_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_delegation_key(tmp_path_factory.mktemp("delegation") / "delegation.key")


@pytest.fixture(scope="session")
def questionnaire_app(infra: Any, auth_keys: Any, delegation_key: Path) -> QuestionnaireApp:
    """`async with questionnaire_app("prefix") as q:` a fresh database, the app started on a
    clock set before the cycle (`q.clock`), and a client."""

    @contextlib.asynccontextmanager
    async def start(
        prefix: str, at: datetime | None = None, **settings: Any
    ) -> AsyncIterator[RunningQuestionnaire]:
        dsn = await infra.create_database(prefix)
        clock = FixedClock(at or datetime(2009, 9, 1, tzinfo=UTC))
        app = build_app(
            QuestionnaireSettings(
                **{
                    "database_url": dsn,
                    "kafka_bootstrap": infra.bootstrap,
                    "auth_public_key_file": auth_keys.public_file,
                    "delegation_key_file": delegation_key,
                    "kafka_session_timeout_ms": 6000,
                    "kafka_heartbeat_interval_ms": 500,
                    # Tests move the clock and tick themselves.
                    "cycle_tick_seconds": 3600,
                    **settings,
                }
            ),
            clock=clock,
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
            ) as client:
                yield RunningQuestionnaire(
                    app, client, dsn, clock, DelegationLinks.from_file(delegation_key), auth_keys
                )
        finally:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await lifespan.__aexit__(None, None, None)

    return start
