"""Wires the reporting service: the one place that builds concrete adapters (the journal, the
projector, the report runner, the read models, the files) and hands them to the application.

`build_app` is the HTTP service: journal migrations, the consumers that fill the journal, the
projector loop that keeps every projection live, and the report API. `rebuilding` is what
`csm-reporting-rebuild` runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from csm_kernel.clock import Clock
from csm_kernel.database import connect_pool, migrate
from csm_kernel.runtime import Runtime, create_app
from csm_kernel.settings import ServiceSettings

from .adapters.exports import SpreadsheetFiles
from .adapters.history import HistoryReaders
from .adapters.journal import PostgresJournal
from .adapters.metrics import ProjectionLagGauges
from .adapters.organisations import PostgresOrganisations
from .adapters.participation import PostgresParticipation, participation_csv
from .adapters.projections import PROJECTIONS
from .adapters.projector import REBUILD_PARALLEL, Projector
from .adapters.replay_subjects import ProjectionSubjects
from .adapters.reports import REPORTS
from .adapters.runner import ReportRunner
from .adapters.subjects import PostgresSubjects
from .adapters.timetables import JournalTimetables
from .application.journalling import Journalling
from .application.participation import Participation
from .application.ports import ReceivedEvents
from .application.projection import Projection
from .application.projection_admin import ProjectionAdmin
from .application.rebuilding import Rebuilding
from .application.replaying import Replaying
from .application.report_queries import ReportQueries
from .application.reports import Reports
from .application.service import Reporting
from .entrypoints import consumers
from .entrypoints.http import ROUTERS

MIGRATIONS = resources.files("reporting.adapters").joinpath("sql")

__all__ = [
    "REBUILD_PARALLEL",
    "NotFresh",
    "ReportingServices",
    "ReportingSettings",
    "bootstrap",
    "build_app",
    "rebuilding",
    "replaying",
]


class ReportingSettings(ServiceSettings):
    #: How often projectors look at the journal when no NOTIFY woke them.
    projector_idle_seconds: float = 0.5
    #: Journal events applied per projection per transaction when catching up.
    projector_batch: int = 5_000


@dataclass(frozen=True)
class ReportingServices(Reporting):
    """The wired application, and the pool under it (tests seed the journal through it)."""

    pool: asyncpg.Pool


def bootstrap(
    pool: asyncpg.Pool,
    projections: Sequence[Projection] = PROJECTIONS,
    reports: Reports = REPORTS,
    *,
    batch: int = 5_000,
    idle_seconds: float = 0.5,
) -> ReportingServices:
    """The reporting application over `pool`, every port given its PostgreSQL adapter."""
    projector = Projector(pool, projections, batch=batch, idle_seconds=idle_seconds)
    return ReportingServices(
        reports=ReportQueries(
            reports,
            ReportRunner(pool, projections),
            JournalTimetables(pool),
            SpreadsheetFiles(),
            PostgresSubjects(pool),
        ),
        admin=ProjectionAdmin(projector),
        participation=Participation(PostgresParticipation(pool), participation_csv),
        organisations=PostgresOrganisations(pool),
        journalling=Journalling(PostgresJournal(pool)),
        projector=projector,
        pool=pool,
    )


def build_app(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, ReportingSettings):
        settings = ReportingSettings(**settings.model_dump())
    built: list[ReportingServices] = []

    def services_for(runtime: Runtime) -> ReportingServices:
        if not built:
            services = bootstrap(
                runtime.require_pool(),
                batch=settings.projector_batch,
                idle_seconds=settings.projector_idle_seconds,
            )
            # The projections' lag, in the one /metrics the kernel serves (set at each scrape).
            gauges = ProjectionLagGauges(runtime.metrics.registry, services.admin.lags)
            runtime.metrics.on_scrape(gauges.refresh)
            built.append(services)
        return built[0]

    def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
        consumers.subscriptions(runtime, broker, services_for(runtime).journalling)

    async def projector(runtime: Runtime, stop: asyncio.Event) -> None:
        await services_for(runtime).projector.run(stop, runtime.monitor("projector"))

    async def on_start(runtime: Runtime, app: FastAPI) -> None:
        services = app.state.services = services_for(runtime)
        # Every projection's tables exist before the first request can ask for a report.
        await services.projector.prepare()

    return create_app(
        "reporting",
        settings,
        routers=ROUTERS,
        migrations=MIGRATIONS,
        subscriptions=subscriptions,
        background={"projector": projector},
        on_start=on_start,
        description="Read models for every CSM output, rebuilt from events at will.",
    )


@asynccontextmanager
async def journal_received(database_url: str) -> AsyncIterator[ReceivedEvents]:
    """The journal as received, for `csm-reporting verify`, over the reporting database at
    `database_url` (migrated first, as the service would: the check reads causation ids)."""
    pool = await connect_pool(database_url, size=2)
    try:
        await migrate(pool, "reporting", MIGRATIONS)
        yield PostgresJournal(pool)
    finally:
        await pool.close()


@asynccontextmanager
async def rebuilding(database_url: str) -> AsyncIterator[Rebuilding]:
    """`csm-reporting-rebuild`'s application over the reporting database at `database_url`
    (migrated first)."""
    pool = await connect_pool(database_url, size=4)
    try:
        await migrate(pool, "reporting", MIGRATIONS)
        yield Rebuilding(PostgresJournal(pool), Projector(pool, PROJECTIONS), HistoryReaders())
    finally:
        await pool.close()


class NotFresh(Exception):
    """The database a replay was given already holds events."""


def pool_database(url: str) -> str:
    """The database a URL names, without its credentials, for messages."""
    return "the database " + url.rsplit("/", 1)[-1].split("?")[0]


@asynccontextmanager
async def replaying(database_url: str, *, clock: Clock | None = None) -> AsyncIterator[Replaying]:
    """The offline replay's application over a fresh reporting database at `database_url`
    (migrated first, as the service would be): the journal, projector, reports and files the
    service itself uses. `clock` is the reports' "now" (the wall clock by default)."""
    pool = await connect_pool(database_url, size=4)
    try:
        await migrate(pool, "reporting", MIGRATIONS)
        journal = PostgresJournal(pool)
        if await journal.head():
            raise NotFresh(
                f"{pool_database(database_url)} already holds a journal:"
                " a replay needs an empty database"
            )
        projector = Projector(pool, PROJECTIONS)
        queries = ReportQueries(
            REPORTS,
            ReportRunner(pool, PROJECTIONS),
            JournalTimetables(pool),
            SpreadsheetFiles(),
            PostgresSubjects(pool),
            clock,
        )
        yield Replaying(journal, projector, queries, ProjectionSubjects(pool))
    finally:
        await pool.close()
