"""Wires the questionnaire service.

Its capabilities arrive with their own issues. Today it runs as its own process with its
database migrated and its health endpoints up, so `make run` and the deployment files already
have their final shape."""

from __future__ import annotations

from fastapi import FastAPI

from csm_kernel.runtime import create_app
from csm_kernel.settings import ServiceSettings


def build_app(settings: ServiceSettings) -> FastAPI:
    return create_app(
        "questionnaire",
        settings,
        description="Cycles, questionnaires, delegation, submission and sign-off.",
    )
