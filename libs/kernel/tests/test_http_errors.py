"""The database away for a moment (restarting, failing over) is a 503 asking the client to try
again, not a 500: found when the national rehearsal restarted PostgreSQL under load and 363
requests were answered 500 (docs/rehearsal.md)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.http import DATABASE_RETRY_AFTER_SECONDS, install_error_handlers

AWAY = {
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "shutting-down": asyncpg.CannotConnectNowError("the database system is shutting down"),
    "admin-shutdown": asyncpg.AdminShutdownError("terminating connection"),
    "closed": asyncpg.ConnectionDoesNotExistError("connection was closed"),
    "deadlock": asyncpg.DeadlockDetectedError("deadlock detected"),
    "pool-timeout": TimeoutError(),
}


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/away/{kind}")
    async def away(kind: str) -> None:
        raise AWAY[kind]

    @app.get("/missing-file")
    async def missing_file() -> None:
        raise FileNotFoundError("/etc/nothing")

    return app


@pytest.mark.parametrize("kind", sorted(AWAY))
async def test_the_database_away_is_a_503_to_try_again(kind: str) -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get(f"/away/{kind}")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert "try again" in answer.json()["error"]
    assert answer.json()["details"] == []


async def test_an_os_error_that_is_not_a_broken_connection_is_still_a_fault() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/missing-file")
    assert answer.status_code == 500
