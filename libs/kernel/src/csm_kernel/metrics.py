"""`/metrics` on every service: Prometheus text, read from the state the service already keeps.

Nothing in a service counts for Prometheus by hand. The HTTP histogram is recorded by the
request middleware (`csm_kernel.request_tracing`); everything else is read when Prometheus
scrapes: the loops' monitors, the relay's and each consumer's counters, the watchdog's lag per
partition, the pool's connections, and (by one or two indexed queries, refreshed just before
the text is written) what the relay has not published yet and the dead letters pending.

Names follow the OpenTelemetry semantic conventions as Prometheus spells them
(`http.server.request.duration` in seconds becomes `http_server_request_duration_seconds`,
attribute dots become underscores); the kernel's own are `csm_*`. Counters end in `_total`.

A service adds its own through `runtime.metrics`: define a `Counter`/`Gauge`/`Histogram` with
`registry=runtime.metrics.registry`, and for a value read from the database register an async
refresher with `runtime.metrics.on_scrape(...)` that sets it (it runs before every scrape, with
a time limit, and a failing one is counted in `csm_metrics_refresh_errors_total`, never a 500).

With `CSM_WORKERS` > 1 each worker process answers for itself (the scrape reaches one of them):
run one worker per pod where Prometheus scrapes, as the Kubernetes manifests do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from csm_contracts import Topics

from .observability import get_logger
from .status import broker_reachable, service_version

if TYPE_CHECKING:
    from .runtime import Runtime

log = get_logger(__name__)

#: The buckets OpenTelemetry recommends for `http.server.request.duration` (seconds).
HTTP_DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

#: How long the refreshers of one scrape may take together before the scrape goes without them.
REFRESH_SECONDS = 3.0

Refresher = Callable[[], Awaitable[None]]


class ServiceMetrics:
    """One process's metrics registry, with the HTTP histogram every service has."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self._refreshers: list[Refresher] = []
        ProcessCollector(registry=self.registry)
        self.http_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests (health probes and /metrics excluded)",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=HTTP_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.refresh_errors = Counter(
            "csm_metrics_refresh_errors",
            "Scrapes whose database-backed values could not be refreshed in time",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one served request."""
        self.http_duration.labels(method, route, str(status)).observe(seconds)

    def on_scrape(self, refresh: Refresher) -> None:
        """Run `refresh` before each scrape (e.g. to set a gauge from a query)."""
        self._refreshers.append(refresh)

    def add(self, collector: Collector) -> None:
        """Register a collector read at scrape time."""
        self.registry.register(collector)

    async def exposition(self) -> bytes:
        """The Prometheus text of everything registered, refreshed first."""
        if self._refreshers:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(refresh() for refresh in self._refreshers)), REFRESH_SECONDS
                )
            except Exception as exc:  # the database is away or slow: serve what is known
                self.refresh_errors.inc()
                log.warning("metrics refresh failed", error=f"{type(exc).__name__}: {exc}")
        return generate_latest(self.registry)


class RuntimeCollector(Collector):
    """The kernel's metrics of one running service, read from its `Runtime` at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        #: Values read from the database by `refresh` (the last scrape's).
        self.unpublished: int | None = None
        self.oldest_unpublished_age: float | None = None
        self.oldest_unpublished_public_age: float | None = None
        self.dead_letters_pending: dict[str, int] = {}

    async def refresh(self) -> None:
        """Read what needs the database: the relay's backlog, pending dead letters."""
        runtime = self.runtime
        pool = runtime.pool
        if pool is None:
            return
        if runtime.relay is not None:
            # Index scans from the checkpoint on: what is unpublished, which is little when
            # all is well (and what a scrape should cost more for when it is not).
            row = await pool.fetchrow(
                "SELECT c.position AS checkpoint, "
                "(SELECT coalesce(max(position), 0) FROM events) AS head, "
                "(SELECT extract(epoch FROM now() - e.occurred_at) FROM events e "
                " WHERE e.position > c.position ORDER BY e.position LIMIT 1) AS oldest, "
                "(SELECT extract(epoch FROM now() - e.occurred_at) FROM events e "
                " WHERE e.position > c.position AND e.type = ANY($2::text[]) "
                " ORDER BY e.position LIMIT 1) AS oldest_public "
                "FROM (SELECT coalesce((SELECT position FROM relay_checkpoints "
                "WHERE relay = $1), 0) AS position) c",
                runtime.relay.name,
                sorted(Topics.PUBLIC_EVENT_TYPES),
            )
            assert row is not None
            self.unpublished = max(int(row["head"]) - int(row["checkpoint"]), 0)
            self.oldest_unpublished_age = _age(row["oldest"])
            self.oldest_unpublished_public_age = _age(row["oldest_public"])
        if runtime.subscriptions:
            from .dead_letters import pending_count

            self.dead_letters_pending = await pending_count(pool)

    def describe(self) -> list[Metric]:
        return []  # names vary with what the service runs: not checked for clashes up front

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime
        up = GaugeMetricFamily(
            "csm_service_start_time_seconds",
            "When this service process started (Unix time)",
            labels=["service"],
        )
        if runtime.started_at is not None:
            up.add_metric([runtime.name], runtime.started_at.timestamp())
        yield up
        info = GaugeMetricFamily(
            "csm_service_info",
            "The service and its version (always 1)",
            labels=["service", "version"],
        )
        info.add_metric([runtime.name, service_version(runtime.name)], 1.0)
        yield info
        reachable = broker_reachable(runtime)
        if reachable is not None:
            yield _gauge("csm_broker_reachable", "1 if the broker answers this process", reachable)
        yield from self._loops()
        yield from self._pool()
        yield from self._relay()
        yield from self._consumers()

    def _loops(self) -> Iterator[Metric]:
        healthy = GaugeMetricFamily(
            "csm_loop_healthy", "1 if the background loop is healthy, else 0", labels=["loop"]
        )
        since = GaugeMetricFamily(
            "csm_loop_seconds_since_progress",
            "Seconds since the loop last finished a pass",
            labels=["loop"],
        )
        failures = GaugeMetricFamily(
            "csm_loop_failures", "Failed passes in a row (0 when it works)", labels=["loop"]
        )
        now = time.monotonic()
        for name, monitor in self.runtime.loops.monitors().items():
            healthy.add_metric([name], 0.0 if monitor.problem() else 1.0)
            since.add_metric([name], max(now - monitor.last_beat, 0.0))
            failures.add_metric([name], monitor.failures)
        yield from (healthy, since, failures)

    def _pool(self) -> Iterator[Metric]:
        pool = self.runtime.pool
        if pool is None:
            return
        count = GaugeMetricFamily(
            "db_client_connection_count",
            "Connections in the pool, by state (used / idle)",
            labels=["db_client_connection_state", "db_client_connection_pool_name"],
        )
        size, idle = pool.get_size(), pool.get_idle_size()
        count.add_metric(["used", self.runtime.name], size - idle)
        count.add_metric(["idle", self.runtime.name], idle)
        yield count
        limit = GaugeMetricFamily(
            "db_client_connection_max",
            "The most connections the pool opens",
            labels=["db_client_connection_pool_name"],
        )
        limit.add_metric([self.runtime.name], pool.get_max_size())
        yield limit

    def _relay(self) -> Iterator[Metric]:
        relay = self.runtime.relay
        if relay is None:
            return
        yield _gauge("csm_relay_leading", "1 if this process's relay publishes", relay.leading)
        yield _counter(
            "csm_relay_published_events", "Events published to the broker", relay.published
        )
        yield _counter(
            "csm_relay_publish_errors",
            "Relay passes that failed (database or broker away, a fault)",
            relay.publish_errors,
        )
        yield _counter(
            "csm_relay_history_losses",
            "Times the broker was found to have lost published events",
            relay.history_losses,
        )
        if self.unpublished is not None:
            yield _gauge(
                "csm_relay_unpublished_events",
                "Stored events the relay has not published yet",
                self.unpublished,
            )
        if self.oldest_unpublished_age is not None:
            yield _gauge(
                "csm_relay_oldest_unpublished_age_seconds",
                "Age of the oldest stored event not published yet (0 when none)",
                self.oldest_unpublished_age,
            )
        if self.oldest_unpublished_public_age is not None:
            yield _gauge(
                "csm_relay_oldest_unpublished_public_age_seconds",
                "Age of the oldest event for the public topic (a sign-off) not published yet",
                self.oldest_unpublished_public_age,
            )

    def _consumers(self) -> Iterator[Metric]:
        subscriptions = self.runtime.subscriptions
        if not subscriptions:
            return
        labels = ["consumer"]
        lag = GaugeMetricFamily(
            "csm_consumer_lag_messages",
            "Messages of a partition not yet consumed (end offset minus the consumer's position)",
            labels=["consumer", "messaging_destination_name", "messaging_destination_partition_id"],
        )
        messages = CounterMetricFamily(
            "csm_consumer_messages",
            "Messages handled, by outcome (handled, duplicate, ignored, dead-lettered)",
            labels=["consumer", "outcome"],
        )
        retries = CounterMetricFamily(
            "csm_consumer_retries", "Handler attempts that failed and were retried", labels=labels
        )
        dead = CounterMetricFamily(
            "csm_consumer_dead_lettered", "Messages dead-lettered", labels=labels
        )
        pending = GaugeMetricFamily(
            "csm_dead_letters_pending", "Dead letters not yet replayed or discarded", labels=labels
        )
        pruned = CounterMetricFamily(
            "csm_consumer_tracking_rows_pruned",
            "Tracking rows deleted past the de-duplication window",
            labels=labels,
        )
        commit_failures = GaugeMetricFamily(
            "csm_consumer_commit_failures", "Offset commits failed in a row", labels=labels
        )
        reread = CounterMetricFamily(
            "csm_consumer_partitions_reread",
            "Partitions read again from the start (they lost messages already read)",
            labels=labels,
        )
        restarts = CounterMetricFamily(
            "csm_consumer_restarts", "Times the consumer was started afresh", labels=labels
        )
        losses = CounterMetricFamily(
            "csm_consumer_losses_detected",
            "Store positions found missing (asked for again)",
            labels=labels,
        )
        for subscription in subscriptions:
            consumer = subscription.consumer
            name = [consumer.name]
            for key, value in subscription.lag.items():
                topic, _, rest = key.rpartition("[")
                if value >= 0:
                    lag.add_metric([consumer.name, topic, rest.rstrip("]")], value)
            for outcome, count in consumer.outcomes.items():
                messages.add_metric([consumer.name, outcome.value], count)
            retries.add_metric(name, consumer.retries)
            dead.add_metric(name, consumer.dead_lettered)
            pending.add_metric(name, self.dead_letters_pending.get(consumer.name, 0))
            pruned.add_metric(name, consumer.tracking_rows_pruned)
            commit_failures.add_metric(name, consumer.commit_failures)
            reread.add_metric(name, subscription.rewinds)
            restarts.add_metric(name, subscription.restarts)
            losses.add_metric(name, consumer.delivery.gaps_detected)
        yield from (lag, messages, retries, dead, pending, pruned, commit_failures)
        yield from (reread, restarts, losses)


def _age(seconds: Any) -> float:
    return max(float(seconds), 0.0) if seconds is not None else 0.0


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> Metric:
    return CounterMetricFamily(name, documentation, value=float(value))


class MetricsEndpoint:
    """ASGI middleware answering `GET /metrics` with the kernel's metrics; when the service
    has a `/metrics` route of its own (`service_route`), its answer comes first."""

    def __init__(self, app: Any, *, metrics: ServiceMetrics, service_route: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.service_route = service_route

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/metrics" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        status, body = 200, b""
        if self.service_route:
            chunks: list[bytes] = []

            async def keep(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            await self.app(scope, receive, keep)
            body = b"".join(chunks)
        if status == 200:
            body += await self.metrics.exposition()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", self.metrics.content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def metrics_of(app: Any) -> ServiceMetrics:
    """The metrics of an app (made on first use, e.g. for the portal, which has no runtime)."""
    metrics: ServiceMetrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        metrics = app.state.metrics = ServiceMetrics(str(getattr(app, "title", "service")))
    return metrics
