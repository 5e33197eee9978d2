"""`GET /status`: the portal's version and whether each service it calls is ready."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from portal_fakes import browser, portal


def _not_ready() -> FastAPI:
    app = FastAPI()

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"status": "not ready", "problems": ["database: not reachable"]}, 503)

    return app


def _ready() -> FastAPI:
    app = FastAPI()

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


async def test_status_says_which_services_are_ready_and_why_not() -> None:
    app, _ = portal(
        registration=_ready(), questionnaire=_not_ready(), reporting=_ready(), notification=None
    )
    async with browser(app) as client:
        answer = await client.get("/status")
    assert answer.status_code == 200
    body = answer.json()
    assert body["service"] == "portal"
    assert body["version"]
    assert body["services"] == {
        "registration": "ready",
        "questionnaire": "not ready: database: not reachable",
        "reporting": "ready",
        "notification": "not answering (ConnectError)",
    }
    assert body["healthy"] is False


async def test_status_is_healthy_when_every_service_is_ready() -> None:
    app, _ = portal(
        **{
            name: _ready()
            for name in ("registration", "questionnaire", "reporting", "notification")
        }
    )
    async with browser(app) as client:
        body = (await client.get("/status")).json()
    assert body["healthy"] is True
