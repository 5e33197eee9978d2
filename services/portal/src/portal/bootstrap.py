"""Wires the portal: the services' API clients, the pages, the static assets and the errors.

The only module that builds the HTTP adapters (`portal.adapters`): `wire` makes one per
service over its client and hands them to the pages as the application's ports
(`application.ports.Apis`), once, on `app.state.portal`.

The portal holds no business state and has no database: everything a page shows comes from
the services' HTTP APIs, with the signed-in person's access token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from csm_kernel.auth import TokenVerifier
from csm_kernel.edge import install_edge
from csm_kernel.http import instrument
from csm_kernel.observability import get_logger, inject_trace_context
from csm_kernel.process import freeze_startup_heap
from csm_kernel.settings import ServiceSettings

from .adapters.api import Api
from .adapters.notification import HttpNotification
from .adapters.peers import HttpPeers
from .adapters.questionnaire import HttpQuestionnaire
from .adapters.registration import HttpRegistration
from .adapters.reporting import HttpReporting
from .application.ports import Apis, Peers
from .entrypoints.web import (
    auth,
    dashboard,
    delegates,
    directory,
    groups,
    info,
    last_year,
    mailbox,
    national,
    national_accounts,
    national_bulletins,
    national_cycles,
    national_import,
    national_notices,
    national_progress,
    national_returns,
    questionnaires,
    reports,
    review,
    sandbox,
    service_import,
    sign_off,
    status,
    submission,
)
from .entrypoints.web.deps import Portal
from .entrypoints.web.errors import edge_refusal, install_page_errors
from .entrypoints.web.security import security
from .entrypoints.web.session import clear_session_cookies, set_session_cookies
from .settings import PortalSettings

log = get_logger(__name__)

ROUTERS = (
    auth,
    dashboard,
    # Before `national`: its /national/organisations/{code} would take "import" for a code.
    national_import,
    national,
    national_progress,
    national_cycles,
    national_returns,
    national_notices,
    national_bulletins,
    national_accounts,
    # Before `directory`: its /services/{service_id} would take "import" for an id.
    service_import,
    directory,
    review,
    groups,
    questionnaires,
    last_year,
    submission,
    delegates,
    sign_off,
    reports,
    sandbox,
    mailbox,
    status,
    info,
)


@dataclass
class Wired:
    """The services' APIs as the pages' ports, and the clients to close at shutdown."""

    apis: Apis
    clients: list[Api]
    peers: Peers

    async def aclose(self) -> None:
        for api in self.clients:
            await api.aclose()


def wire(clients: dict[str, httpx.AsyncClient]) -> Wired:
    """One HTTP adapter per service, over that service's client."""
    registration, questionnaire, reporting, notification = (
        Api(name, clients[name])
        for name in ("registration", "questionnaire", "reporting", "notification")
    )
    apis = Apis(
        registration=HttpRegistration(registration),
        questionnaire=HttpQuestionnaire(questionnaire),
        reporting=HttpReporting(reporting),
        notification=HttpNotification(notification),
    )
    clients_ = [registration, questionnaire, reporting, notification]
    return Wired(apis, clients_, HttpPeers(clients_))


def _clients(settings: PortalSettings) -> dict[str, httpx.AsyncClient]:
    urls = {
        "registration": settings.registration_url,
        "questionnaire": settings.questionnaire_url,
        "reporting": settings.reporting_url,
        "notification": settings.notification_url,
    }
    return {
        name: httpx.AsyncClient(
            base_url=url,
            timeout=settings.api_timeout,
            event_hooks={"request": [continue_trace]},
        )
        for name, url in urls.items()
    }


async def continue_trace(request: httpx.Request) -> None:
    """A page's trace goes on into every service call it makes (W3C traceparent), so an ops
    engineer follows one click from the portal through the services and their consumers."""
    inject_trace_context(request.headers)


def build_app(
    settings: ServiceSettings | None = None,
    *,
    clients: dict[str, httpx.AsyncClient] | None = None,
) -> FastAPI:
    """The portal's app. `clients` replaces the services' HTTP clients (tests fake them)."""
    portal_settings = settings if isinstance(settings, PortalSettings) else PortalSettings()
    verifier = None
    if portal_settings.auth_public_key_file is not None:
        verifier = TokenVerifier(portal_settings.auth_public_key_file.read_bytes())
    wired = wire(clients or _clients(portal_settings))
    portal = Portal(portal_settings, wired.apis, verifier, wired.peers)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        freeze_startup_heap()
        log.info("service started", port=portal_settings.http_port)
        try:
            yield
        finally:
            await wired.aclose()

    app = FastAPI(
        title="CSM portal", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.portal = portal
    _mount_assets(app, portal_settings.assets_dir)
    install_page_errors(app)
    # Innermost of the middleware: its refusal pages get the session and security headers.
    install_edge(app, portal_settings.max_request_bytes, respond=edge_refusal)
    app.middleware("http")(_session_cookies)
    # Outermost: its headers go on every response, and no form post reaches a page unchecked.
    app.middleware("http")(security)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        # Ready as soon as it serves: a service that is down gets its own page, not a
        # portal that refuses every request.
        return JSONResponse({"status": "ready"})

    for module in ROUTERS:
        app.include_router(module.router)
    instrument(app)
    return app


def _mount_assets(app: FastAPI, node_modules: Path) -> None:
    govuk = node_modules / "govuk-frontend" / "dist" / "govuk"
    htmx = node_modules / "htmx.org" / "dist"
    if not govuk.is_dir():
        log.warning(
            "govuk-frontend is not installed: run `npm ci --prefix services/portal`",
            looked_in=str(node_modules),
        )
        return
    # The stylesheet asks for its fonts and images under /assets (govuk-frontend's default).
    app.mount("/assets", StaticFiles(directory=govuk / "assets"), name="govuk-assets")
    app.mount("/static/govuk", StaticFiles(directory=govuk), name="govuk")
    if htmx.is_dir():
        app.mount("/static/htmx", StaticFiles(directory=htmx), name="htmx")
    # Report charts (Vega-Lite drawn by vega-embed) and the subject picker's autocomplete.
    for mount, built in (
        ("vega", node_modules / "vega" / "build"),
        ("vega-lite", node_modules / "vega-lite" / "build"),
        ("vega-embed", node_modules / "vega-embed" / "build"),
        ("autocomplete", node_modules / "accessible-autocomplete" / "dist"),
    ):
        if built.is_dir():
            app.mount(f"/static/{mount}", StaticFiles(directory=built), name=mount)
    own = Path(__file__).parent / "static"
    app.mount("/static/portal", StaticFiles(directory=own), name="portal")


Next = Callable[[Request], Awaitable[Response]]


async def _session_cookies(request: Request, call_next: Next) -> Response:
    """Store a token refreshed while building the page, or forget an ended session."""
    response = await call_next(request)
    tokens = getattr(request.state, "new_tokens", None)
    if tokens is not None:
        set_session_cookies(request, response, tokens, None)
    elif getattr(request.state, "clear_session", False):
        clear_session_cookies(response)
    return response
