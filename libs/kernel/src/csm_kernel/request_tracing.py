"""One SERVER span, one log line and one histogram observation per HTTP request.

A plain ASGI middleware rather than OpenTelemetry's FastAPI instrumentation: that one walks the
routes again to name each span, collects a dozen attributes and records two metrics per
request, which measured 15-20 % of a request's CPU on the questionnaire service's save path.
This one names the span from the route the router already matched and records the attributes
of the OpenTelemetry HTTP server conventions (`http.request.method`, `url.path`, `url.scheme`,
`http.route`, `http.response.status_code`; `error.type` and an error status on a 5xx or an
exception).

The same pass writes the request log: one JSON line (`request`) with the method, the route
template (never the path, which can carry ids), the status, the duration in milliseconds, the
trace and span ids, and the caller's roles when a verified access token named them
(`csm_kernel.auth` tells `note_caller` of every token it verifies). Never a header, a token, a
body or an answer. And it feeds `observe` (the service's
`http_server_request_duration_seconds`, `csm_kernel.metrics`). Health probes and `/metrics`
are left out of all three: they are polled, and would drown the rest.

When no exporter is configured (`tracing_exported()` is false) nobody will read the span, so
the request carries a non-recording span instead: the same trace and span ids reach log lines
and the events the request appends (and so every consumer downstream), without the SDK's
bookkeeping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from .observability import get_logger, tracing_exported

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PROPAGATED = {b"traceparent": "traceparent", b"tracestate": "tracestate"}

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

#: Paths never traced, logged or measured: probes and scrapes, polled every few seconds.
UNOBSERVED_PREFIXES = ("/health/", "/metrics")

Observer = Callable[[str, str, int, float], None]
"""Told of each request served: method, route template, status, duration in seconds."""

request_log = get_logger("csm.requests")

#: The callers verified while serving the current request (`note_caller`), for its log line.
_CALLERS: ContextVar[list[Any] | None] = ContextVar("csm_request_callers", default=None)


def note_caller(principal: Any) -> None:
    """Tell the request being served who its verified caller is (`csm_kernel.auth` does, for
    every token it verifies, the portal's included); its log line names the caller's roles."""
    callers = _CALLERS.get()
    if callers is not None:
        callers.append(principal)


class RequestTracingMiddleware:
    """Trace, log and measure each HTTP request but those under `excluded_prefixes`.

    `record` says whether spans are recorded (default: whether they are exported);
    `tracer_provider` defaults to the process's; `observe` is told of every request served;
    `log_requests` writes the request log line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_prefixes: tuple[str, ...] = UNOBSERVED_PREFIXES,
        record: bool | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        observe: Observer | None = None,
        log_requests: bool = True,
    ) -> None:
        self.app = app
        self.excluded_prefixes = excluded_prefixes
        self.record = tracing_exported() if record is None else record
        self._tracer = trace.get_tracer("csm.http", tracer_provider=tracer_provider)
        self.observe = observe
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.excluded_prefixes):
            await self.app(scope, receive, send)
            return
        carrier = {
            _PROPAGATED[name]: value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PROPAGATED
        }
        parent = propagate.extract(carrier) if carrier else context.get_current()
        # An unknown method is `_OTHER` (the conventions' rule): no series or name per whim.
        method: str = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        started = time.perf_counter()
        if self.record:
            span: trace.Span = self._tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "url.path": scope["path"],
                    "url.scheme": scope.get("scheme", "http"),
                },
            )
        else:
            span = NonRecordingSpan(_child_context(parent))
        token = context.attach(trace.set_span_in_context(span, parent))
        callers: list[Any] = []
        callers_token = _CALLERS.set(callers)
        status_code = 500
        failure: Exception | None = None

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except Exception as exc:
            failure = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            route: str | None = getattr(scope.get("route"), "path", None)
            if span.is_recording():
                _end_span(span, method, route, status_code, failure)
            if self.log_requests:
                # Inside the request's context, so the line carries its trace and span ids.
                request_log.info(
                    "request",
                    method=method,
                    route=route or "unmatched",
                    status=status_code,
                    duration_ms=round(seconds * 1000, 2),
                    role=_caller_roles(callers),
                )
            _CALLERS.reset(callers_token)
            context.detach(token)
            if self.observe is not None:
                self.observe(method, route or "unmatched", status_code, seconds)


def _end_span(
    span: trace.Span, method: str, route: str | None, status: int, failure: Exception | None
) -> None:
    if route:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if failure is not None:
        span.record_exception(failure)
        span.set_attribute("error.type", type(failure).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
    elif status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def _caller_roles(callers: list[Any]) -> str | None:
    """The verified caller's roles ("national-admin,auditor"), if a token was checked."""
    roles = getattr(callers[-1], "roles", None) if callers else None
    return ",".join(sorted(str(role) for role in roles)) if roles else None


def _child_context(parent: context.Context) -> SpanContext:
    """A new span id in the parent's trace (a new trace when there is none)."""
    caller = trace.get_current_span(parent).get_span_context()
    trace_id = caller.trace_id if caller.is_valid else random.getrandbits(128) or 1
    # Sampled, so that a downstream service that does export keeps the trace whole.
    return SpanContext(
        trace_id=trace_id,
        span_id=random.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=caller.trace_state if caller.is_valid else None,
    )
