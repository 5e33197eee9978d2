"""What the questionnaire tells an operator: its counters on `/metrics` (saves, submissions,
sign-offs; only what committed), and a trace for each pass of its loops that found work, none
for the idle passes (docs/observability.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from kafka_helpers import eventually

from .conftest import complete_answers

COUNTERS = {
    "saves": "csm_questionnaire_saves_total",
    "submissions": "csm_questionnaire_submissions_total",
    "signoffs": "csm_questionnaire_signoffs_total",
}


async def _counters(q: Any) -> dict[str, float]:
    """The three counters as Prometheus reads them from a scrape of the running app."""
    r = await q.client.get("/metrics")
    assert r.status_code == 200, r.text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            for key, name in COUNTERS.items():
                if sample.name == name:
                    assert family.type == "counter" and not sample.labels
                    found[key] = sample.value
    assert set(found) == set(COUNTERS), f"missing from /metrics: {set(COUNTERS) - set(found)}"
    return found


class Moves:
    """Scrapes and says how far each counter moved since the last scrape."""

    def __init__(self, q: Any) -> None:
        self.q = q
        self.last: dict[str, float] = {}

    async def start(self) -> None:
        self.last = await _counters(self.q)

    async def since(self) -> dict[str, float]:
        now = await _counters(self.q)
        moved = {key: now[key] - self.last[key] for key in COUNTERS}
        self.last = now
        return moved


NOTHING = {"saves": 0, "submissions": 0, "signoffs": 0}


async def test_saves_submissions_and_sign_offs_are_counted_once_committed(
    questionnaire_app,
) -> None:
    async with questionnaire_app("q_metrics_counters") as q:
        await q.register("LA1", "local-authority")
        await q.schedule()
        await q.move_to(q.OPEN)
        headers = q.lead("LA1")
        first, second = [
            (await q.client.get(f"/questionnaires/{item['id']}", headers=headers)).json()
            for item in await q.owed("LA1")
        ]
        moves = Moves(q)
        await moves.start()
        assert moves.last == NOTHING  # a fresh process has counted nothing

        answers = f"/questionnaires/{first['id']}/answers"
        complete = complete_answers(first["definition"])
        r = await q.client.patch(
            answers, headers=headers, json={"version": first["version"], "answers": complete}
        )
        assert r.status_code == 200, r.text
        assert await moves.since() == {**NOTHING, "saves": 1}

        # Refused saves count nothing: a stale version, an answer out of range, no version.
        r = await q.client.patch(
            answers, headers=headers, json={"version": first["version"], "answers": complete}
        )
        assert r.status_code == 409, r.text
        version = r.json()["details"][-1]["version"]  # where the stream stands
        r = await q.client.patch(
            answers, headers=headers, json={"version": version, "answers": {"no-such": 1}}
        )
        assert r.status_code == 422, r.text
        r = await q.client.patch(answers, headers=headers, json={"answers": complete})
        assert r.status_code == 422, r.text
        # Nor does a save that changes nothing (nothing is appended).
        r = await q.client.patch(
            answers, headers=headers, json={"version": version, "answers": complete}
        )
        assert r.status_code == 200, r.text
        assert r.json()["changed"] == []
        assert await moves.since() == NOTHING

        r = await q.client.post(f"/questionnaires/{first['id']}/submit", headers=headers)
        assert r.status_code == 200, r.text
        assert await moves.since() == {**NOTHING, "submissions": 1}

        # A refused submission (already submitted) and a refused sign-off (one outstanding).
        r = await q.client.post(f"/questionnaires/{first['id']}/submit", headers=headers)
        assert r.status_code in (409, 422), r.text
        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/sign-off", headers=headers, json={"confirm": True}
        )
        assert r.status_code == 409, r.text
        assert await moves.since() == NOTHING

        await q.complete("LA1", second)  # one save, one submission
        assert await moves.since() == {**NOTHING, "saves": 1, "submissions": 1}

        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/sign-off", headers=headers, json={"confirm": True}
        )
        assert r.status_code == 200, r.text
        assert await moves.since() == {**NOTHING, "signoffs": 1}

        r = await q.client.post(
            "/cycles/2009-10/returns/LA1/sign-off", headers=headers, json={"confirm": True}
        )
        assert r.status_code == 409, r.text  # signed off already
        assert await moves.since() == NOTHING


@pytest.fixture
def exported() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _names(exporter: InMemorySpanExporter) -> list[str]:
    return [span.name for span in exporter.get_finished_spans()]


async def test_only_a_clock_tick_that_finds_work_makes_a_span(questionnaire_app, exported) -> None:
    provider, exporter = exported
    async with questionnaire_app("q_trace_clock") as q:
        await q.register("LA1", "local-authority")
        await q.schedule()
        q.services.cycles.tracer_provider = provider
        for _ in range(3):  # before the sandbox opens: nothing to do
            assert await q.services.cycles.tick() == 0
        assert _names(exporter) == []

        q.clock.set(q.OPEN)
        assert await q.services.cycles.tick() == 1  # into data entry, and issue what is owed
        [span] = exporter.get_finished_spans()
        assert span.name == "cycle-clock" and span.kind is SpanKind.INTERNAL
        assert span.parent is None  # a trace of its own
        assert dict(span.attributes or {}) == {"csm.cycle_clock.moves": 1}
        assert len(await q.owed("LA1")) == 2

        exporter.clear()
        for _ in range(3):  # moved and issued: idle again
            assert await q.services.cycles.tick() == 0
        assert _names(exporter) == []

        # Issuing alone (a whole-cycle issue that did not finish) is work too.
        conn = await asyncpg.connect(q.dsn)
        try:
            await conn.execute("UPDATE cycles SET issued = false")
        finally:
            await conn.close()
        assert await q.services.cycles.tick() == 0
        [span] = exporter.get_finished_spans()
        assert span.name == "cycle-clock" and span.parent is None
        assert dict(span.attributes or {}) == {"csm.cycle_clock.issues": 1}
        assert len(await q.owed("LA1")) == 2  # nothing issued twice
        exporter.clear()
        assert await q.services.cycles.tick() == 0
        assert _names(exporter) == []


async def test_only_a_snapshot_pass_that_writes_rows_makes_a_span(
    questionnaire_app, exported
) -> None:
    provider, exporter = exported
    async with questionnaire_app("q_trace_snapshots") as q:
        await q.register("LA1", "local-authority")
        await q.schedule()
        await q.move_to(q.OPEN)
        [item, _] = await q.owed("LA1")
        view = (await q.client.get(f"/questionnaires/{item['id']}", headers=q.lead("LA1"))).json()
        snapshots = q.services.snapshots  # the app's own writer, every 0.25 s

        async def written() -> bool:
            return snapshots.pending == 0

        await eventually(written, 10, "the snapshots of the issue written")
        snapshots.tracer_provider = provider
        await asyncio.sleep(snapshots.interval * 4)  # idle passes
        assert _names(exporter) == []

        r = await q.client.patch(
            f"/questionnaires/{view['id']}/answers",
            headers=q.lead("LA1"),
            json={"version": view["version"], "answers": complete_answers(view["definition"])},
        )
        assert r.status_code == 200, r.text

        async def traced() -> bool:
            return bool(exporter.get_finished_spans())

        await eventually(traced, 10, "the pass that writes the saved row")
        [span] = exporter.get_finished_spans()
        assert span.name == "snapshot-writer" and span.kind is SpanKind.INTERNAL
        assert dict(span.attributes or {}) == {"csm.snapshots.pending": 1}
        assert snapshots.pending == 0

        await asyncio.sleep(snapshots.interval * 4)  # written: idle again
        assert _names(exporter) == ["snapshot-writer"]
