"""The notification service's own metrics on its `/metrics` (the runtime's Prometheus
registry): the sender's outcomes as counters, the queue's backlog as gauges read at each scrape.
The names are those the dashboard and the alerts in `deploy/` use."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from csm_kernel.clock import Clock

from ..application.ports import QueueBacklog


class PrometheusNotificationMetrics:
    """`application.ports.SendingMetrics` in Prometheus, and the backlog gauges (`refresh`,
    run before each scrape through `runtime.metrics.on_scrape`)."""

    def __init__(self, registry: CollectorRegistry, backlog: QueueBacklog, clock: Clock) -> None:
        self._backlog = backlog
        self._clock = clock
        self._sent = Counter(
            "csm_notifications_sent",
            "Emails the SMTP server accepted, by kind",
            ["kind"],
            registry=registry,
        )
        self._failed = Counter(
            "csm_notifications_failed",
            "Attempts to send an email that failed (to be retried, or for good), by kind",
            ["kind"],
            registry=registry,
        )
        self._queued = Gauge(
            "csm_notifications_queued",
            "Emails not yet sent nor failed for good (due, or waiting to be retried)",
            registry=registry,
        )
        self._oldest_age = Gauge(
            "csm_notifications_oldest_queued_age_seconds",
            "Seconds since the oldest queued email was recorded (0 when none)",
            registry=registry,
        )

    def sent(self, kind: str, count: int) -> None:
        self._sent.labels(kind).inc(count)

    def failed(self, kind: str, count: int) -> None:
        self._failed.labels(kind).inc(count)

    async def refresh(self) -> None:
        """Set the gauges from the queue (one query)."""
        backlog = await self._backlog.backlog(self._clock.now())
        self._queued.set(backlog.queued)
        self._oldest_age.set(backlog.oldest_age_seconds)
