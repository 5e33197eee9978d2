"""Logs, traces and their link: structlog JSON lines carrying `trace_id`/`span_id`, and the
OpenTelemetry SDK exporting over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

`CSM_TRACES_FILE` additionally writes finished spans to a file in the standard OTLP JSON form
(one file is fine to share between processes: lines are appended whole), which is how tests
and an ops engineer without a collector follow one request through every service
(`csm-traces`). Idle polling makes no traces (`QuietSampler`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import structlog
from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes, AttributeValue

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
        # Dropped first when its level is off: the chain below then never runs (it did, only
        # for logging to drop the line at the end: ~8 µs of every request's log call).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
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


class OtlpJsonFileExporter(SpanExporter):
    """Appends finished spans to a file in the OTLP JSON form: one `ExportTraceServiceRequest`
    (`{"resourceSpans": [...]}`) per line, as the OpenTelemetry collector's file exporter writes
    and its `otlpjsonfile` receiver reads, so any OTLP tool can load the file; `csm-traces`
    prints the slowest and failed requests and a trace's tree from it. Several processes may
    share one file: each export is one line, appended whole."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = json.dumps(otlp_json(spans), separators=(",", ":"))
        with self._lock, open(self._path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return SpanExportResult.SUCCESS


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Spans as an OTLP/JSON `ExportTraceServiceRequest` (ids in hex, times in nanoseconds as
    strings, enums as numbers: the protocol's JSON mapping)."""
    resources: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}
    for span in spans:
        ctx = span.get_span_context()  # type: ignore[no-untyped-call]
        if ctx is None:
            continue
        _, scopes = resources.setdefault(id(span.resource), (span.resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version or "") if scope is not None else ("", "")
        encoded: dict[str, Any] = {
            "traceId": format(ctx.trace_id, "032x"),
            "spanId": format(ctx.span_id, "016x"),
            "name": span.name,
            # OTLP numbers kinds from 1 (INTERNAL); the API's enum from 0.
            "kind": span.kind.value + 1,
            "startTimeUnixNano": str(span.start_time or 0),
            "endTimeUnixNano": str(span.end_time or 0),
            "attributes": _attributes(span.attributes),
            "status": {"code": span.status.status_code.value}
            | ({"message": span.status.description} if span.status.description else {}),
        }
        if span.parent is not None:
            encoded["parentSpanId"] = format(span.parent.span_id, "016x")
        if span.events:
            encoded["events"] = [
                {
                    "timeUnixNano": str(event.timestamp),
                    "name": event.name,
                    "attributes": _attributes(event.attributes),
                }
                for event in span.events
            ]
        if span.links:
            encoded["links"] = [
                {
                    "traceId": format(link.context.trace_id, "032x"),
                    "spanId": format(link.context.span_id, "016x"),
                    "attributes": _attributes(link.attributes),
                }
                for link in span.links
            ]
        scopes.setdefault(key, []).append(encoded)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource.attributes)},
                "scopeSpans": [
                    {"scope": {"name": name, "version": version}, "spans": encoded_spans}
                    for (name, version), encoded_spans in scopes.items()
                ],
            }
            for resource, scopes in resources.values()
        ]
    }


def _attributes(attributes: Any) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attributes or {}).items()]


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


class QuietSampler(Sampler):
    """Records what a parent asks for, and every new trace but one made by a bare query.

    A loop that polls the database (the relay, the consumers' watchdog, a mail sender) runs a
    query or two every second with no span around it; traced, each is a one-span trace (96 % of
    all spans, 3,400-4,100 traces a minute from an idle stack), and real traces drown in them.
    So a CLIENT span with no parent is dropped: a query is traced inside work that is (a
    request, a consumed message, a relay batch, `traced_work`), never on its own."""

    def should_sample(
        self,
        parent_context: context_api.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid and kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return _PARENT_BASED.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "QuietSampler"


_PARENT_BASED = ParentBased(ALWAYS_ON)


class DatabaseSpanConventions(SpanProcessor):
    """Adds today's database conventions (`db.system.name`, `db.operation.name`) to the asyncpg
    instrumentation's spans, which carry only the older `db.system` and `db.statement`."""

    def on_start(self, span: Span, parent_context: context_api.Context | None = None) -> None:
        scope = span.instrumentation_scope
        if scope is None or not scope.name.startswith("opentelemetry.instrumentation.asyncpg"):
            return
        span.set_attribute("db.system.name", "postgresql")
        operation = span.name.rsplit(" ", 1)[-1].rstrip(";").upper()
        if operation:
            span.set_attribute("db.operation.name", operation)


def tracing_exported() -> bool:
    """Are spans sent anywhere (OTLP, or the JSON-lines file the tests follow)?"""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("CSM_TRACES_FILE"))


def configure_tracing(service: str) -> TracerProvider:
    """Install the SDK tracer provider for this process, with the exporters configured."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}),
        sampler=QuietSampler(),
    )
    provider.add_span_processor(DatabaseSpanConventions())
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if path := os.environ.get("CSM_TRACES_FILE"):
        provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFileExporter(path)))
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
def continued_span(
    name: str,
    traceparent: str | None,
    attributes: Mapping[str, AttributeValue] | None = None,
    **more: str,
) -> Iterator[None]:
    """A CONSUMER span continuing the trace of `traceparent` (e.g. one event of a batch whose
    messages each came from a different request), so logs inside it carry that trace id."""
    context = propagate.extract({"traceparent": traceparent} if traceparent else {})
    with trace.get_tracer("csm").start_as_current_span(
        name,
        context=context,
        kind=trace.SpanKind.CONSUMER,
        attributes={**(attributes or {}), **more},
    ):
        yield


@contextlib.contextmanager
def traced_work(
    name: str,
    tracer_provider: trace.TracerProvider | None = None,
    **attributes: AttributeValue,
) -> Iterator[trace.Span]:
    """An INTERNAL span around one pass of a background loop that found work (never around an
    empty poll: the queries inside are traced only within it, see `QuietSampler`)."""
    tracer = trace.get_tracer("csm", tracer_provider=tracer_provider)
    with tracer.start_as_current_span(
        name, kind=trace.SpanKind.INTERNAL, attributes=attributes
    ) as span:
        yield span
