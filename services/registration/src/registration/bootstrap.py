"""Wires the registration service: the real app, or the use cases over a fake store."""

from __future__ import annotations

from fastapi import FastAPI

from csm_kernel.runtime import create_app
from csm_kernel.settings import ServiceSettings

from .entrypoints.http import router


def build_app(settings: ServiceSettings) -> FastAPI:
    return create_app(
        "registration",
        settings,
        routers=[router],
        publishes=True,
        description="Organisations, mapping leads, credentials and the directory of services.",
    )
