"""Wires the registration service."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI

from csm_kernel.runtime import create_app
from csm_kernel.settings import ServiceSettings

from .entrypoints.http import ROUTERS


def build_app(settings: ServiceSettings) -> FastAPI:
    return create_app(
        "registration",
        settings,
        routers=ROUTERS,
        migrations=resources.files("registration.adapters").joinpath("sql"),
        publishes=True,
        description="Organisations, mapping leads, credentials and the directory of services.",
    )
