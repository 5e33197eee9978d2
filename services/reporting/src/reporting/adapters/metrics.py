"""Reporting's Prometheus gauges: how far behind the journal each projection is, set from the
database at each scrape of the service's one `/metrics` (the kernel's `ServiceMetrics`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CollectorRegistry, Gauge

from ..application.projection import Lag


class ProjectionLagGauges:
    """`csm_projection_lag_events`, `csm_projection_lag_seconds` and `csm_projection_position`
    by projection, in `registry`; `refresh` sets them from `lags` (run it on each scrape)."""

    def __init__(
        self, registry: CollectorRegistry, lags: Callable[[], Awaitable[Sequence[Lag]]]
    ) -> None:
        self.lags = lags
        labels = ["projection"]
        self.events = Gauge(
            "csm_projection_lag_events",
            "Journal events not yet applied",
            labels,
            registry=registry,
        )
        self.seconds = Gauge(
            "csm_projection_lag_seconds",
            "Age of the oldest event not yet applied",
            labels,
            registry=registry,
        )
        self.position = Gauge(
            "csm_projection_position", "Last journal position applied", labels, registry=registry
        )

    async def refresh(self) -> None:
        """Read every projection's lag and set the gauges."""
        for lag in await self.lags():
            self.events.labels(lag.projection).set(lag.events_behind)
            self.seconds.labels(lag.projection).set(lag.seconds_behind)
            self.position.labels(lag.projection).set(lag.position)
