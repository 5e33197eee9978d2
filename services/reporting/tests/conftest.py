"""A reporting database with its journal and every projection, fed directly (no broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
import httpx
import pytest

from csm_contracts.envelope import EventEnvelope
from csm_kernel.database import connect_pool, migrate
from reporting.adapters import journal
from reporting.adapters.projections import PROJECTIONS
from reporting.adapters.projector import Projector
from reporting.adapters.reports import REPORTS
from reporting.adapters.runner import ReportRunner
from reporting.application.reports import ReportRequest, ReportResult
from reporting.bootstrap import ReportingServices, ReportingSettings, build_app
from reporting_history import History


@dataclass
class ReportingDB:
    """The journal, the projector and the report runner over one fresh database."""

    pool: asyncpg.Pool
    projector: Projector
    runner: ReportRunner
    history: History

    async def record(self, envelopes: Sequence[EventEnvelope] | None = None) -> int:
        """Put events into the journal (default: everything added to `history` since last
        time) and catch every projection up. How many were new."""
        batch = list(envelopes) if envelopes is not None else self.history.take()
        async with self.pool.acquire() as conn, conn.transaction():
            added = await journal.record(conn, batch)
        await self.projector.catch_up_all()
        return added

    async def report(self, name: str, **request: object) -> ReportResult:
        """Run a report live (or as-at when `as_at` is given)."""
        report = REPORTS.get(name)
        assert report is not None, f"no report {name}"
        req = ReportRequest(**request)  # type: ignore[arg-type]
        if req.as_at is not None:
            return await self.runner.as_at(report, req)
        result, _ = await self.runner.live(report, req)
        return result


@pytest.fixture
async def reporting_db(infra) -> AsyncIterator[ReportingDB]:
    dsn = await infra.create_database("rep")
    pool = await connect_pool(dsn, size=4)
    try:
        await migrate(pool, "reporting", resources.files("reporting.adapters").joinpath("sql"))
        projector = Projector(pool, PROJECTIONS, batch=7)  # small batches: ranges get split
        await projector.prepare()
        yield ReportingDB(pool, projector, ReportRunner(pool, PROJECTIONS), History())
    finally:
        await pool.close()


@dataclass
class RunningReporting:
    """The reporting app started on a fresh database, with a client and the auth keys."""

    app: Any
    client: httpx.AsyncClient
    dsn: str
    services: ReportingServices
    auth_keys: Any
    history: History

    @property
    def admin(self) -> dict[str, str]:
        return dict(self.auth_keys.headers("national-admin"))

    async def record(self) -> None:
        """Journal what was added to `history` and wait until every projection has it."""
        async with self.services.pool.acquire() as conn, conn.transaction():
            await journal.record(conn, self.history.take())
        await self.services.projector.catch_up_all()


@pytest.fixture
async def reporting_app(infra, auth_keys) -> AsyncIterator[RunningReporting]:
    dsn = await infra.create_database("rep_http")
    app = build_app(
        ReportingSettings(
            database_url=dsn,
            kafka_bootstrap=infra.bootstrap,
            auth_public_key_file=auth_keys.public_file,
            kafka_session_timeout_ms=6000,
            kafka_heartbeat_interval_ms=500,
            projector_idle_seconds=0.1,
        )
    )
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
        ) as client:
            yield RunningReporting(app, client, dsn, app.state.services, auth_keys, History())
    finally:
        async with asyncio.timeout(30):
            await lifespan.__aexit__(None, None, None)
