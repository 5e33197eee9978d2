"""One SERVER span per HTTP request, continuing the caller's W3C `traceparent`.

A plain ASGI middleware rather than OpenTelemetry's FastAPI instrumentation: that one walks the
routes again to name each span, collects a dozen attributes and records two metrics per
request, which measured 15-20 % of a request's CPU on the questionnaire service's save path.
This one names the span from the route the router already matched and records the attributes
an ops engineer filters on (method, route, path, status).

When no exporter is configured (`tracing_exported()` is false) nobody will read the span, so
the request carries a non-recording span instead: the same trace and span ids reach log lines
and the events the request appends (and so every consumer downstream), without the SDK's
bookkeeping.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, MutableMapping
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

from .observability import tracing_exported

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PROPAGATED = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


class RequestTracingMiddleware:
    """Trace each HTTP request but those under `excluded_prefixes` (health probes).

    `record` says whether spans are recorded (default: whether they are exported);
    `tracer_provider` defaults to the process's."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_prefixes: tuple[str, ...] = ("/health/",),
        record: bool | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.app = app
        self.excluded_prefixes = excluded_prefixes
        self.record = tracing_exported() if record is None else record
        self._tracer = trace.get_tracer("csm.http", tracer_provider=tracer_provider)

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
        method: str = scope["method"]
        if self.record:
            span: trace.Span = self._tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope["path"]},
            )
        else:
            span = NonRecordingSpan(_child_context(parent))
        token = context.attach(trace.set_span_in_context(span, parent))
        status_code = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except Exception as exc:
            if span.is_recording():
                span.record_exception(exc)
            raise
        finally:
            context.detach(token)
            if span.is_recording():
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status_code)
                if status_code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()


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
