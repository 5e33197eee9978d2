"""The request span: continues the caller's trace, is named by the matched route, records the
status, and still carries trace ids into the request when spans are not recorded."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from csm_kernel.observability import current_traceparent
from csm_kernel.request_tracing import RequestTracingMiddleware

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def _app(record: bool, provider: TracerProvider | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str | None]:
        return {"traceparent": current_traceparent()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/health/live")
    async def live() -> dict[str, str | None]:
        return {"traceparent": current_traceparent()}

    app.add_middleware(RequestTracingMiddleware, record=record, tracer_provider=provider)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
def exported() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_a_recorded_span_continues_the_caller_and_names_the_route(exported) -> None:
    provider, exporter = exported
    async with _client(_app(True, provider)) as client:
        inside = (await client.get("/things/7", headers={"traceparent": CALLER})).json()
        assert (await client.get("/boom")).status_code == 500
        await client.get("/health/live")

    first, failed = exporter.get_finished_spans()  # none for the health probe
    assert first.name == "GET /things/{thing_id}" and first.kind is SpanKind.SERVER
    assert format(first.context.trace_id, "032x") == CALLER_TRACE
    assert first.parent is not None and format(first.parent.span_id, "016x") == "b7ad6b7169203331"
    assert first.attributes is not None
    assert first.attributes["http.route"] == "/things/{thing_id}"
    assert first.attributes["url.path"] == "/things/7"
    assert first.attributes["http.response.status_code"] == 200
    # What the endpoint sees (and stores beside the events it appends) is this span.
    assert inside["traceparent"] == f"00-{CALLER_TRACE}-{first.context.span_id:016x}-01"
    assert failed.name == "GET /boom" and failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["http.response.status_code"] == 500
    assert any(e.name == "exception" for e in failed.events)


async def test_without_recording_the_request_still_carries_trace_ids(exported) -> None:
    provider, exporter = exported
    async with _client(_app(False, provider)) as client:
        continued = (await client.get("/things/1", headers={"traceparent": CALLER})).json()
        new_a = (await client.get("/things/2")).json()
        new_b = (await client.get("/things/3")).json()
        probe = (await client.get("/health/live")).json()

    assert exporter.get_finished_spans() == ()
    version, trace_id, span_id, flags = continued["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", CALLER_TRACE, "01")
    assert span_id != "b7ad6b7169203331"  # a span of its own in the caller's trace
    a, b = new_a["traceparent"].split("-")[1], new_b["traceparent"].split("-")[1]
    assert a != b and CALLER_TRACE not in (a, b)  # each request starts its own trace
    assert probe["traceparent"] is None
