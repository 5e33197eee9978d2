"""HTTP conventions shared by every service: errors in one place, health endpoints, tracing.

Errors are `{"error": "...", "details": [{"field": "...", "reason": "..."}]}` with the status
from the `csm_kernel.errors` hierarchy; request validation failures are 422 naming each field.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .database import TRANSIENT_ERRORS
from .errors import CSMError, TooManyRequests, Unauthorised
from .metrics import MetricsEndpoint, ServiceMetrics, metrics_of
from .observability import current_traceparent, get_logger, tracing_exported
from .request_tracing import RequestTracingMiddleware
from .store.base import AppendContext

log = get_logger(__name__)


def _json_default(value: Any) -> Any:
    # Money and other exact sums come from PostgreSQL as Decimal: JSON numbers, as people expect.
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_bytes(content: Any) -> bytes:
    """`content` as JSON, by orjson (`Decimal` as a number, non-string keys as strings); an
    integer beyond 64 bits, which orjson refuses (one stored before the edge bounded numbers),
    by the standard library instead, so a reader still gets it rather than a 500."""
    try:
        return orjson.dumps(content, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(content, default=_json_default, separators=(",", ":")).encode()


class OrjsonResponse(Response):
    """A JSON response serialised by orjson: several times faster than FastAPI's encoder for
    the large replies (questionnaires, reports), what FastAPI's deprecated `ORJSONResponse`
    did, and `Decimal` (exact sums) as JSON numbers (see `json_bytes`)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


class ErrorDetail(BaseModel):
    """One thing wrong with a request: where (`field`, a dotted path) and why."""

    model_config = ConfigDict(extra="allow")

    field: str | None = None
    reason: str


class ErrorBody(BaseModel):
    """The body of every error answer, whatever its status."""

    error: str
    details: list[ErrorDetail] = Field(default_factory=list)


#: What each error status means in this project, as OpenAPI describes it.
ERROR_MEANINGS: dict[int, str] = {
    400: "The request cannot be read.",
    401: "No valid sign-in: the access token is missing, expired or revoked.",
    403: "Signed in, but this role or organisation may not do this.",
    404: "No such thing (or none this caller may know of).",
    409: "It conflicts with the current state (e.g. it changed since it was read).",
    410: "It existed but is gone (e.g. a used or expired link).",
    413: "The body is larger than this route accepts.",
    422: "A field is missing or invalid: `details` names each field and the reason.",
    428: "A precondition is required (e.g. the version the change was made from).",
    429: "Too many attempts: try again after `Retry-After` seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route's error answers: each status with the error body's
    schema (`ErrorBody`) and what it means here."""
    return {
        status: {"model": ErrorBody, "description": ERROR_MEANINGS.get(status, "Error.")}
        for status in statuses
    }


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


#: Seconds a client is asked to wait when the database is away for a moment.
DATABASE_RETRY_AFTER_SECONDS = 2

#: The database being away (restarting, failing over, out of connections) or a transaction
#: that lost a deadlock: worth asking again. `OSError` is narrowed to broken connections, so a
#: missing file is still a fault.
_TRY_AGAIN: tuple[type[Exception], ...] = (
    *(e for e in TRANSIENT_ERRORS if issubclass(e, Exception) and e is not OSError),
    ConnectionError,
)


def install_error_handlers(app: FastAPI) -> None:
    """Map the kernel's errors and FastAPI's validation errors to JSON responses, and the
    database being away for a moment to 503 with `Retry-After`: not a 500, since the fault is
    the moment's and the request may be made again."""

    @app.exception_handler(CSMError)
    async def _csm_error(_: Request, exc: CSMError) -> JSONResponse:
        headers = {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after_seconds)
        if isinstance(exc, Unauthorised):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": exc.message, "details": exc.details},
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The router's own answers (no such path, method not allowed) in the same body as
        # every other error, not Starlette's `{"detail": ...}`.
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": str(exc.detail).lower(), "details": []},
            headers=exc.headers,
        )

    async def _try_again(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "database unavailable; asked the client to try again",
            path=request.url.path,
            error=f"{type(exc).__name__}: {exc}",
        )
        return JSONResponse(
            status_code=503,
            content={
                "error": "the service cannot reach its database just now; try again in a moment",
                "details": [],
            },
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    for error in _TRY_AGAIN:
        app.add_exception_handler(error, _try_again)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": _field(tuple(err.get("loc", ()))), "reason": str(err.get("msg", "invalid"))}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['reason']}" for d in details)
        return JSONResponse(
            status_code=422, content={"error": f"invalid request: {summary}", "details": details}
        )


def add_health(
    app: FastAPI,
    ready: Callable[[], Awaitable[list[str]]],
    live: Callable[[], list[str]] = list,
) -> None:
    """`/health/live` (the process and every loop in it work: a failure asks for a restart)
    and `/health/ready` (that, and its dependencies answer). Each gives the problems found."""

    @app.get("/health/live", include_in_schema=False)
    async def is_live() -> JSONResponse:
        problems = live()
        return JSONResponse(
            status_code=503 if problems else 200,
            content={"status": "not live" if problems else "live", "problems": problems},
        )

    @app.get("/health/ready", include_in_schema=False)
    async def is_ready() -> JSONResponse:
        problems = await ready()
        return JSONResponse(
            status_code=503 if problems else 200,
            content={"status": "not ready" if problems else "ready", "problems": problems},
        )


def instrument(app: FastAPI) -> None:
    """Trace, log and measure every request (`RequestTracingMiddleware`), serve `/metrics`
    (`csm_kernel.metrics`), and trace asyncpg queries when spans are exported.

    Request spans are always made: they carry the caller's trace into the events a request
    appends. A span per query is only worth its cost (measured 0.4-0.8 ms a request) when
    someone collects it, and only inside work that is traced already (a query with nothing
    around it, such as a loop's idle poll, makes no trace: `observability.QuietSampler`)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    metrics = metrics_of(app)
    _serve_metrics(app, metrics)
    app.add_middleware(RequestTracingMiddleware, observe=metrics.observe_request)
    if tracing_exported():
        instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def _serve_metrics(app: FastAPI, metrics: ServiceMetrics) -> None:
    """`GET /metrics`; a service that has one of its own (reporting's projection lag) keeps
    it, with the kernel's metrics appended to what it answers."""
    probe = {"type": "http", "path": "/metrics", "root_path": "", "method": "GET", "headers": []}
    own = any(route.matches(probe)[0] is Match.FULL for route in app.router.routes)
    app.add_middleware(MetricsEndpoint, metrics=metrics, service_route=own)


def append_context(request: Request, actor: str) -> AppendContext:
    """Who and why for the events a request appends: the caller, the caller's correlation id
    (`x-correlation-id`, else a new one) and the request's trace, for the relay to continue."""
    correlation = request.headers.get("x-correlation-id")
    extra = {"correlation_id": correlation} if correlation else {}
    return AppendContext(actor=actor, trace_context=current_traceparent(), **extra)
