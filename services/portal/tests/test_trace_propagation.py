"""The portal's calls to the services carry the page's trace (W3C traceparent)."""

from __future__ import annotations

import httpx
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from portal.bootstrap import _clients, continue_trace
from portal.settings import PortalSettings

TRACE_ID, SPAN_ID = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331


async def test_a_service_call_continues_the_pages_trace() -> None:
    page = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, False, TraceFlags(TraceFlags.SAMPLED)))
    request = httpx.Request("GET", "http://registration.test/organisations")
    with trace.use_span(page):
        await continue_trace(request)
    assert request.headers["traceparent"] == f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"

    outside = httpx.Request("GET", "http://registration.test/organisations")
    await continue_trace(outside)  # no trace in progress: nothing to continue
    assert "traceparent" not in outside.headers


async def test_every_service_client_adds_the_trace() -> None:
    clients = _clients(PortalSettings())
    try:
        assert set(clients) == {"registration", "questionnaire", "reporting", "notification"}
        assert all(continue_trace in c.event_hooks["request"] for c in clients.values())
    finally:
        for c in clients.values():
            await c.aclose()
