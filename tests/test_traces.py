"""Spans as the services write them (OTLP JSON, `QuietSampler`), read back by `csm-traces`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from csm_infra.traces import main, read_spans
from csm_kernel.observability import OtlpJsonFileExporter, QuietSampler, traced_work
from csm_kernel.request_tracing import RequestTracingMiddleware


def _provider(path: Path, service: str) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), sampler=QuietSampler()
    )
    provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFileExporter(str(path))))
    return provider


def _app(provider: TracerProvider) -> FastAPI:
    app = FastAPI()
    tracer = provider.get_tracer("test.db")

    @app.get("/quick")
    async def quick() -> dict[str, str]:
        with tracer.start_as_current_span("SELECT", kind=trace.SpanKind.CLIENT):
            pass
        return {}

    @app.get("/slow/{n}")
    async def slow(n: int) -> dict[str, str]:
        with tracer.start_as_current_span("SELECT", kind=trace.SpanKind.CLIENT):
            await asyncio.sleep(0.05 * n)
        return {}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(RequestTracingMiddleware, record=True, tracer_provider=provider)
    return app


@pytest.fixture
async def spans_file(tmp_path: Path) -> Path:
    path = tmp_path / "spans.jsonl"
    provider = _provider(path, "things")
    # A query with nothing around it (a loop's idle poll) makes no trace at all.
    with provider.get_tracer("test.db").start_as_current_span(
        "SELECT", kind=trace.SpanKind.CLIENT
    ) as bare:
        assert not bare.is_recording()
    transport = httpx.ASGITransport(app=_app(provider), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/quick")
        await client.get("/slow/2")
        await client.get("/slow/1")
        assert (await client.get("/boom")).status_code == 500
    provider.shutdown()
    return path


def test_the_file_is_otlp_json(spans_file: Path) -> None:
    lines = [json.loads(line) for line in spans_file.read_text().splitlines()]
    spans = [
        span
        for line in lines
        for resource in line["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert len(spans) == 7  # four requests, three queries inside them, no bare query
    resource = lines[0]["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "things"}} in resource
    server = next(s for s in spans if s["name"] == "GET /slow/{n}")
    assert len(server["traceId"]) == 32 and len(server["spanId"]) == 16
    assert server["kind"] == 2  # SPAN_KIND_SERVER
    assert int(server["endTimeUnixNano"]) > int(server["startTimeUnixNano"])
    attributes = {a["key"]: a["value"] for a in server["attributes"]}
    assert attributes["http.response.status_code"] == {"intValue": "200"}
    assert attributes["http.route"] == {"stringValue": "/slow/{n}"}
    failed = next(s for s in spans if s["name"] == "GET /boom")
    assert failed["status"]["code"] == 2  # STATUS_CODE_ERROR
    assert {"key": "error.type", "value": {"stringValue": "RuntimeError"}} in failed["attributes"]


def test_slowest_lists_requests_slowest_first(spans_file: Path, capsys) -> None:
    assert main(["--file", str(spans_file), "slowest"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4  # the requests only, not their queries
    assert "GET /slow/{n}" in out[0] and "GET /slow/{n}" in out[1]
    durations = [float(line.split()[1]) for line in out]
    assert durations == sorted(durations, reverse=True) and durations[0] >= 100


def test_failed_lists_the_trace_with_an_error(spans_file: Path, capsys) -> None:
    assert main(["--file", str(spans_file), "failed"]) == 0
    out = capsys.readouterr().out
    assert "GET /boom" in out and "500" in out and "error=RuntimeError" in out
    assert "/slow" not in out


def test_show_prints_one_trace_as_a_tree(spans_file: Path, capsys) -> None:
    (boom,) = [s for s in read_spans(spans_file) if s.name == "GET /boom"]
    (slow, _) = [s for s in read_spans(spans_file) if s.name == "GET /slow/{n}"]
    assert main(["--file", str(spans_file), "show", slow.trace_id[:12]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"trace {slow.trace_id}  (2 spans)"
    assert "things server GET /slow/{n}" in lines[1]
    assert lines[2].index("things client SELECT") > lines[1].index("things server")
    assert main(["--file", str(spans_file), "show", boom.trace_id]) == 0
    assert "ERROR" in capsys.readouterr().out
    assert main(["--file", str(spans_file), "show", "0" * 32]) == 1


def test_a_loop_that_found_work_traces_its_queries_inside_its_pass(tmp_path: Path) -> None:
    path = tmp_path / "loop.jsonl"
    provider = _provider(path, "sender")
    tracer = provider.get_tracer("test.db")
    with tracer.start_as_current_span("SELECT", kind=trace.SpanKind.CLIENT):
        pass  # the empty poll: nothing recorded
    with (
        traced_work("send emails", tracer_provider=provider, **{"csm.batch": 3}),
        tracer.start_as_current_span("UPDATE", kind=trace.SpanKind.CLIENT),
    ):
        pass
    provider.shutdown()
    spans = read_spans(path)
    assert [(s.kind, s.name) for s in spans] == [("CLIENT", "UPDATE"), ("INTERNAL", "send emails")]
    query, work = spans
    assert query.parent_span_id == work.span_id and work.parent_span_id is None
    assert work.attributes["csm.batch"] == 3
