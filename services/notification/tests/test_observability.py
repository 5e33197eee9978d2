"""What the notification service tells its operators: the email queue and the sender's outcomes
on `/metrics` (the names the dashboard and alerts in deploy/ use), scraped from the whole app
running against the real SMTP sink; and one trace per sender batch that found work, none for
an empty poll."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.infra

QUEUED = "csm_notifications_queued"
OLDEST = "csm_notifications_oldest_queued_age_seconds"
SENT = "csm_notifications_sent_total"
FAILED = "csm_notifications_failed_total"
KIND = (("kind", "return-reopened"),)


def addresses(n: int, domain: str = "example.org") -> list[str]:
    tag = uuid.uuid4().hex[:10]
    return [f"lead{i}-{tag}@{domain}" for i in range(n)]


async def scrape(n: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the app's /metrics, by name and labels."""
    response = await n.client.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def test_the_queue_rises_and_drains_and_outcomes_are_counted_by_kind(
    notification_app: Any,
) -> None:
    async with notification_app("notif_metrics") as n:
        first = await scrape(n)
        assert first[(QUEUED, ())] == 0
        assert first[(OLDEST, ())] == 0
        assert (SENT, KIND) not in first and (FAILED, KIND) not in first

        # The server away: what is recorded waits (no attempt is spent on an outage).
        n.infra.stop_smtp()
        try:
            good = [n.reopened(to) for to in addresses(3)]
            refused = n.reopened(addresses(1, "reject.invalid")[0])
            await n.record([*good, refused])
            n.clock.advance(timedelta(seconds=90))
            waiting = await scrape(n)
            assert waiting[(QUEUED, ())] == 4
            assert waiting[(OLDEST, ())] == pytest.approx(90)
            assert (SENT, KIND) not in waiting and (FAILED, KIND) not in waiting
        finally:
            n.infra.start_smtp()
        n.services.sender.wake()
        rows = await n.settled([i.id for i in (*good, refused)])
        assert [rows[i.id]["status"] for i in good] == ["sent"] * 3
        assert rows[refused.id]["status"] == "failed"

        drained = await scrape(n)
        assert drained[(QUEUED, ())] == 0
        assert drained[(OLDEST, ())] == 0
        assert drained[(SENT, KIND)] == 3
        assert drained[(FAILED, KIND)] == 1

        # The counters only ever add up (a scrape does not reset them).
        more = n.reopened(addresses(1)[0])
        await n.record([more])
        await n.settled([more.id])
        assert (await scrape(n))[(SENT, KIND)] == 4


@pytest.fixture
def exported() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_a_sender_batch_with_work_is_one_span_an_empty_poll_none(
    mailer: Any, exported: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = exported
    sender = mailer.sender(tracer_provider=provider)
    try:
        assert (await sender.send_batch()).claimed == 0
        assert exporter.get_finished_spans() == ()

        intents = [mailer.reopened(to) for to in addresses(2)]
        await mailer.record(intents)
        assert (await sender.send_batch()).sent == 2
        [span] = exporter.get_finished_spans()
        assert span.name == "notification send" and span.kind is SpanKind.INTERNAL
        assert span.attributes is not None
        assert span.attributes["csm.notifications.claimed"] == 2
        assert span.attributes["csm.notifications.sent"] == 2

        # Nothing left to send: polls again make no span.
        assert (await sender.send_batch()).claimed == 0
        assert len(exporter.get_finished_spans()) == 1
    finally:
        await sender.close()
