"""Wires the reporting service: journal migrations, the consumers that fill the journal, the
projector loop that keeps every projection live, and the report API."""

from __future__ import annotations

import asyncio
from importlib import resources

from fastapi import FastAPI

from csm_kernel.runtime import Runtime, create_app
from csm_kernel.settings import ServiceSettings

from .entrypoints.consumers import subscriptions
from .entrypoints.http import ROUTERS
from .services import Services


class ReportingSettings(ServiceSettings):
    #: How often projectors look at the journal when no NOTIFY woke them.
    projector_idle_seconds: float = 0.5
    #: Journal events applied per projection per transaction when catching up.
    projector_batch: int = 5_000


def build_app(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, ReportingSettings):
        settings = ReportingSettings(**settings.model_dump())
    built: list[Services] = []

    def services_for(runtime: Runtime) -> Services:
        if not built:
            built.append(
                Services(
                    runtime.require_pool(),
                    batch=settings.projector_batch,
                    idle_seconds=settings.projector_idle_seconds,
                )
            )
        return built[0]

    async def projector(runtime: Runtime, stop: asyncio.Event) -> None:
        await services_for(runtime).projector.run(stop, runtime.monitor("projector"))

    async def on_start(runtime: Runtime, app: FastAPI) -> None:
        app.state.services = services_for(runtime)
        # Every projection's tables exist before the first request can ask for a report.
        await app.state.services.projector.prepare()

    return create_app(
        "reporting",
        settings,
        routers=ROUTERS,
        migrations=resources.files("reporting.adapters").joinpath("sql"),
        subscriptions=subscriptions,
        background={"projector": projector},
        on_start=on_start,
        description="Read models for every CSM output, rebuilt from events at will.",
    )
