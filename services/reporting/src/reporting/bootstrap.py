"""Wires the reporting service: read-model migrations, consumers and the query API."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI

from csm_kernel.runtime import create_app
from csm_kernel.settings import ServiceSettings

from .entrypoints.consumers import subscriptions
from .entrypoints.http import router


def build_app(settings: ServiceSettings) -> FastAPI:
    return create_app(
        "reporting",
        settings,
        routers=[router],
        migrations=resources.files("reporting.adapters").joinpath("sql"),
        subscriptions=subscriptions,
        description="Read models for every CSM output, rebuilt from events at will.",
    )
