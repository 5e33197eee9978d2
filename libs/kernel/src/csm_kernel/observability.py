"""Logs, traces and their link: structlog JSON lines carrying `trace_id`/`span_id`, and the
OpenTelemetry SDK exporting over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

`CSM_TRACES_FILE` additionally writes finished spans as JSON lines (one file per process is
fine to share: lines are appended whole), which is how tests and a developer without a
collector follow one request through every service.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import structlog
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

#: Keys whose values never reach a log line, whatever a caller passes.
SECRET_KEYS = frozenset(
    {
        "password",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "setup_link",
        "link",
        "authorization",
        "cookie",
    }
)


def _add_trace_ids(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(service: str, level: str | None = None) -> None:
    """JSON log lines on stdout with service, level, time, trace and span ids.

    Standard-library loggers (uvicorn, FastStream, aiokafka) go through the same processors, so
    every line a service prints is one JSON object.
    """
    log_level = getattr(logging, (level or os.environ.get("CSM_LOG_LEVEL", "INFO")).upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        _redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(log_level)
    structlog.contextvars.bind_contextvars(service=service)


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a file as JSON lines: trace id, span id, parent, name."""

    def __init__(self, path: str, service: str) -> None:
        self._path = path
        self._service = service
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()  # type: ignore[no-untyped-call]
            if ctx is None:
                continue
            lines.append(
                json.dumps(
                    {
                        "service": self._service,
                        "name": span.name,
                        "trace_id": format(ctx.trace_id, "032x"),
                        "span_id": format(ctx.span_id, "016x"),
                        "parent_span_id": format(span.parent.span_id, "016x")
                        if span.parent
                        else None,
                        "kind": span.kind.name,
                        "start": span.start_time,
                        "end": span.end_time,
                    }
                )
            )
        with self._lock, open(self._path, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS


def tracing_exported() -> bool:
    """Are spans sent anywhere (OTLP, or the JSON-lines file the tests follow)?"""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("CSM_TRACES_FILE"))


def configure_tracing(service: str) -> TracerProvider:
    """Install the SDK tracer provider for this process, with the exporters configured."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if path := os.environ.get("CSM_TRACES_FILE"):
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path, service)))
    trace.set_tracer_provider(provider)
    return provider


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to store beside an event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def inject_trace_context(headers: MutableMapping[str, str]) -> None:
    """Add the current span's W3C `traceparent` (and `tracestate`) to outgoing HTTP headers,
    so the service called continues the caller's trace."""
    propagate.inject(headers)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)


@contextlib.contextmanager
def continued_span(name: str, traceparent: str | None, **attributes: str) -> Iterator[None]:
    """A CONSUMER span continuing the trace of `traceparent` (e.g. one event of a batch whose
    messages each came from a different request), so logs inside it carry that trace id."""
    context = propagate.extract({"traceparent": traceparent} if traceparent else {})
    with trace.get_tracer("csm").start_as_current_span(
        name, context=context, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ):
        yield
