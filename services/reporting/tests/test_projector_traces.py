"""The live projector's passes as traces: a pass that applied journal events is one span (its
queries inside), an idle pass is none, so an idle reporting service writes no traces."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from csm_contracts.events import OrganisationRegistered
from csm_kernel.observability import QuietSampler
from reporting.adapters import journal
from reporting.adapters.projections import PROJECTIONS
from reporting.adapters.projector import Projector


async def test_an_idle_pass_makes_no_span_and_a_pass_with_work_makes_one(reporting_db) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=QuietSampler())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    projector = Projector(reporting_db.pool, PROJECTIONS, tracer_provider=provider)

    assert await projector.live_pass() == 0  # an empty journal: nothing to do
    assert exporter.get_finished_spans() == ()

    h = reporting_db.history
    h.add(
        OrganisationRegistered(
            organisation_id="TR1", code="TR1", name="TR1 PCT", kind="pct", region="london"
        )
    )
    async with reporting_db.pool.acquire() as conn, conn.transaction():
        await journal.record(conn, h.take())
    assert await projector.live_pass() > 0
    (span,) = exporter.get_finished_spans()
    assert span.name == "reporting project" and span.parent is None
    assert span.attributes is not None
    assert span.attributes["csm.projections.behind"] == len(PROJECTIONS)
    assert span.attributes["csm.journal.positions_applied"] == len(PROJECTIONS)

    exporter.clear()
    assert await projector.live_pass() == 0  # caught up: idle again
    assert exporter.get_finished_spans() == ()
