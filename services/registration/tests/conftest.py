"""The registration app, running for real (its PostgreSQL database, the broker, the SMTP
sink, the suite's signing keys), for the HTTP tests of every feature."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.links import ensure_link_key
from csm_kernel.settings import ServiceSettings
from registration.bootstrap import build_app

#: Shutdown is bounded in the kernel; this only keeps a hang from stalling the suite.
SHUTDOWN_SECONDS = 30


@dataclass
class RunningApp:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str


RegistrationApp = Callable[..., contextlib.AbstractAsyncContextManager[RunningApp]]


@pytest.fixture(scope="session")
def registration_link_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The key set-up links' tokens are made with (the notification service's, in production)."""
    return ensure_link_key(tmp_path_factory.mktemp("links") / "links.key")


@pytest.fixture(scope="session")
def registration_app(infra: Any, auth_keys: Any, registration_link_key: Path) -> RegistrationApp:
    """`async with registration_app("prefix", headers=..., **settings) as running:` a fresh
    database, the app started (relay, consumers, mail sender) and a client for it."""

    @contextlib.asynccontextmanager
    async def start(
        prefix: str, headers: dict[str, str] | None = None, **settings: Any
    ) -> AsyncIterator[RunningApp]:
        dsn = await infra.create_database(prefix)
        app = build_app(
            ServiceSettings(
                **{
                    "database_url": dsn,
                    "kafka_bootstrap": infra.bootstrap,
                    "smtp_port": infra.smtp_port,
                    "auth_public_key_file": auth_keys.public_file,
                    "auth_private_key_file": auth_keys.private_file,
                    "link_key_file": registration_link_key,
                    # Short group sessions: a consumer that went away is replaced quickly.
                    "kafka_session_timeout_ms": 6000,
                    "kafka_heartbeat_interval_ms": 500,
                    **settings,
                }
            )
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", timeout=60, headers=headers or {}
            ) as client:
                yield RunningApp(app, client, dsn)
        finally:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await lifespan.__aexit__(None, None, None)

    return start
