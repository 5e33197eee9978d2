"""The process every service runs: HTTP API, its database, its relay and its consumers.

`create_app` wires one service's FastAPI app with a lifespan that connects the pool, applies
migrations, starts the outbox relay (for services that publish) and the FastStream consumers
(for services that subscribe), and stops them in reverse order. `service_main` is the console
entry point: `serve` (default), `republish` a range of positions, or `verify` the hash chains.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from faststream.kafka import KafkaBroker

from csm_contracts import Topics

from .auth import TokenVerifier
from .commands import add_commands, run_command
from .consumer import BatchHandler, EventConsumer, Handler
from .database import connect_pool, database_ready, migrate
from .edge import install_edge
from .health import LoopMonitor, LoopRegistry, supervise
from .http import add_health, install_error_handlers, instrument
from .kafka import BrokerDeadLetters, dead_letter_topic, make_broker, subscribe
from .metrics import RuntimeCollector, ServiceMetrics
from .observability import configure_logging, configure_tracing, get_logger
from .openapi import document_kernel_answers
from .process import freeze_startup_heap
from .relay import MessageSigner, OutboxRelay
from .republish import RepublishRequestListener
from .settings import ServiceSettings, command_settings
from .status import kernel_status
from .store.postgres import PostgresEventStore
from .watchdog import ConsumerWatchdog, Subscription
from .workers import serve_workers

log = get_logger(__name__)


@dataclass
class Runtime:
    """What a running service holds: settings, pool, store, relay, broker and its loops."""

    name: str
    settings: ServiceSettings
    pool: asyncpg.Pool | None = None
    store: PostgresEventStore | None = None
    relay: OutboxRelay | None = None
    republish_requests: RepublishRequestListener | None = None
    broker: KafkaBroker | None = None
    watchdog: ConsumerWatchdog | None = None
    loops: LoopRegistry = field(default_factory=LoopRegistry)
    subscriptions: list[Subscription] = field(default_factory=list)
    started_at: datetime | None = None
    #: The service's Prometheus metrics (`/metrics`): the kernel's, and any the service adds
    #: (`Counter(..., registry=runtime.metrics.registry)`, `runtime.metrics.on_scrape`).
    metrics: ServiceMetrics = field(default_factory=lambda: ServiceMetrics("service"))

    def require_store(self) -> PostgresEventStore:
        """The event store; the service must be started."""
        assert self.store is not None, "service not started"
        return self.store

    def require_pool(self) -> asyncpg.Pool:
        """The connection pool; the service must be started."""
        assert self.pool is not None, "service not started"
        return self.pool

    def monitor(self, loop: str) -> LoopMonitor:
        """The health monitor of one of this service's background loops."""
        return self.loops.monitor(loop, stall_after=self.settings.loop_stall_seconds)

    def event_consumer(
        self,
        name: str,
        *,
        group_id: str,
        handlers: Mapping[str, Handler] | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> EventConsumer:
        """An idempotent consumer with this service's retry, delivery and dead-letter
        settings (its dead letters go to `group_id`'s topic)."""
        assert self.broker is not None, "subscriptions are made once the broker exists"
        return EventConsumer(
            name,
            self.require_pool(),
            handlers or {},
            BrokerDeadLetters(self.broker),
            dead_letter_topic(group_id),
            max_attempts=self.settings.consumer_max_attempts,
            batch_handler=batch_handler,
            delivery_delay=self.settings.delivery_delay_seconds,
            dependency_wait=self.settings.dependency_wait_seconds,
            monitor=self.monitor(f"consumer:{name}"),
            dedup_window=self.settings.dedup_window_seconds,
        )

    def subscribe(
        self,
        broker: KafkaBroker,
        topics: str | Sequence[str],
        consumer: EventConsumer,
        *,
        group_id: str,
        description: str,
        batch: int | None = None,
    ) -> None:
        """Feed `topics` to `consumer` in group `group_id`, watched by the watchdog."""
        subscriber = subscribe(
            broker,
            topics,
            consumer,
            group_id=group_id,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            description=description,
            batch=batch,
        )
        self.subscriptions.append(Subscription(subscriber, consumer))


Subscriptions = Callable[[Runtime, KafkaBroker], None]
BackgroundTask = Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]]
"""A loop a service runs beside its API until the event is set (e.g. a mail sender). It
reports each pass to `runtime.monitor(<its name>)`; the kernel restarts it if it ever ends."""


async def runtime_of(request: Request) -> Runtime:
    """The runtime of the app serving a request (a FastAPI dependency)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def create_app(
    name: str,
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter] = (),
    migrations: Traversable | None = None,
    publishes: bool = False,
    subscriptions: Subscriptions | None = None,
    background: Mapping[str, BackgroundTask] | None = None,
    on_start: Callable[[Runtime, FastAPI], Awaitable[None] | None] | None = None,
    description: str = "",
    signer: MessageSigner | None = None,
) -> FastAPI:
    """A service's FastAPI app with its lifespan wired.

    Every loop it starts (the relay, the republish-request listener, the consumers' watchdog
    and the service's own `background` loops, by name) runs under `supervise`: it is restarted
    if it ever ends early, and its monitor feeds `/health/ready`, `/health/live` and `/status`.
    `signer` signs what the relay publishes (`csm_kernel.relay.MessageSigner`).
    """
    runtime = Runtime(name=name, settings=settings, metrics=ServiceMetrics(name))
    collector = RuntimeCollector(runtime)
    runtime.metrics.add(collector)
    runtime.metrics.on_scrape(collector.refresh)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.started_at = datetime.now(UTC)
        runtime.pool = await connect_pool(settings.database_url, size=settings.db_pool_size)
        await migrate(runtime.pool, name, migrations)
        store = PostgresEventStore(runtime.pool)
        runtime.store = store
        stop = asyncio.Event()
        loops: dict[str, Callable[[], Awaitable[None]]] = {}
        consumers_task: asyncio.Task[None] | None = None
        if publishes:
            # The relay connects to the broker itself, retrying: a service whose broker is
            # down still starts, takes requests and keeps their events for later.
            relay = runtime.relay = OutboxRelay(
                store, settings.kafka_bootstrap, monitor=runtime.monitor("relay"), signer=signer
            )
            listener = runtime.republish_requests = RepublishRequestListener(
                relay, name, settings.kafka_bootstrap, monitor=runtime.monitor("republish-requests")
            )
            loops["relay"] = lambda: relay.run(stop)
            loops["republish-requests"] = lambda: listener.run(stop)
        if subscriptions is not None:
            broker = runtime.broker = make_broker(settings.kafka_bootstrap)
            subscriptions(runtime, broker)
            watchdog = runtime.watchdog = ConsumerWatchdog(
                runtime.subscriptions,
                lambda request: broker.publish(
                    request.model_dump_json().encode(),
                    topic=Topics.REPUBLISH_REQUESTS,
                    key=request.source.encode(),
                ),
                interval=settings.watchdog_interval_seconds,
                monitor=runtime.monitor("consumer-watchdog"),
            )
            consumers_task = asyncio.create_task(
                _retry_forever(broker.start, "consumers"), name=f"{name}-consumers"
            )
            loops["consumer-watchdog"] = lambda: watchdog.run(stop)
        for loop_name, task in (background or {}).items():
            loops[loop_name] = functools.partial(task, runtime, stop)
        tasks = {
            loop_name: asyncio.create_task(
                supervise(runtime.monitor(loop_name), run, stop), name=f"{name}-{loop_name}"
            )
            for loop_name, run in loops.items()
        }
        if on_start is not None:
            # May be async: e.g. reporting creates its projections' tables before serving.
            started = on_start(runtime, app)
            if started is not None:
                await started
        freeze_startup_heap()
        log.info("service started", port=settings.http_port)
        try:
            yield
        finally:
            stop.set()
            relay_task = tasks.pop("relay", None)
            for loop_task in tasks.values():
                await _finish(loop_task, 10)
            if consumers_task is not None:
                await _finish(consumers_task, 0)
            if runtime.broker is not None:
                # A consumer still joining its group can keep stop() waiting on the broker for
                # many seconds; offsets are committed per message, so there is nothing to lose.
                try:
                    await asyncio.wait_for(runtime.broker.stop(), 3)
                except TimeoutError:
                    log.warning("consumers did not stop in time; leaving them")
            if relay_task is not None and runtime.relay is not None:
                # Let the relay finish the batch it is publishing, then insist.
                runtime.relay.wake()
                await _finish(relay_task, 10)
            if runtime.relay is not None:
                await runtime.relay.stop()
            await runtime.pool.close()
            log.info("service stopped")

    app = FastAPI(title=f"CSM {name}", description=description, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.metrics = runtime.metrics
    if settings.auth_public_key_file is not None:
        app.state.token_verifier = TokenVerifier(settings.auth_public_key_file.read_bytes())
    install_error_handlers(app)
    install_edge(app, settings.max_request_bytes)  # NUL, bad UTF-8, oversized bodies: 422/413
    document_kernel_answers(app)

    async def ready() -> list[str]:
        problems = runtime.loops.problems()
        if runtime.pool is None or not await database_ready(runtime.pool):
            problems.insert(0, "database: not reachable")
        return problems

    add_health(app, ready, live=runtime.loops.problems)
    for router in routers:
        add_routes(app, router)
    if not any(getattr(route, "path", None) == "/status" for route in app.routes):

        @app.get("/status", include_in_schema=False)
        async def status() -> dict[str, Any]:
            """What this process's loops, relay and consumers are doing."""
            return await kernel_status(runtime)

    instrument(app)
    return app


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, served by `app` as they are (the same OpenAPI document).

    FastAPI 0.14x's `include_router` keeps the router behind an `_IncludedRouter` whose routes
    rebuild their request handler (`get_route_handler`, with its dependency analysis) on every
    request they serve: 15-18 µs a request, about 2 % of a save's CPU (`docs/benchmarks.md`,
    2026-12-06). Included with no options (prefix, dependencies, responses), a router's routes
    already hold everything that would add, so they go in as they are. A router with start-up
    or shut-down handlers of its own is included the usual way, which runs them."""
    if router.on_startup or router.on_shutdown:
        app.include_router(router)
        return
    app.router.routes.extend(router.routes)


async def _finish(task: asyncio.Task[None], seconds: float) -> None:
    """Give a stopping task `seconds` to end by itself, then cancel it."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), seconds)
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def subscribe_handlers(
    runtime: Runtime,
    broker: KafkaBroker,
    topic: str,
    *,
    consumer: str,
    group_id: str,
    handlers: Mapping[str, Handler],
    description: str,
    batch: int | None = None,
) -> None:
    """An idempotent consumer of `topic` applying `handlers`, with the service's retry and
    consumer-group settings and its group's dead-letter topic. With `batch=N`, up to N
    messages fetched together are applied in one transaction (`EventConsumer.process_batch`;
    a batch that fails is applied again one message at a time)."""
    runtime.subscribe(
        broker,
        topic,
        runtime.event_consumer(consumer, group_id=group_id, handlers=handlers),
        group_id=group_id,
        description=description,
        batch=batch,
    )


async def _retry_forever(start: Callable[[], Any], what: str) -> None:
    delay = 0.5
    while True:
        try:
            await start()
            return
        except Exception as exc:  # the broker is not up yet
            log.warning("could not connect to the broker; retrying", what=what, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclass(frozen=True)
class ServiceCommand:
    """A command of one service's own (e.g. registration's `create-account`), listed by
    `--help` with the kernel's."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    #: Runs it with the parsed arguments and the command settings; its exit status.
    run: Callable[[argparse.Namespace, ServiceSettings], int]


def service_main(
    name: str,
    app_factory: Callable[[ServiceSettings], FastAPI],
    commands: Mapping[str, ServiceCommand] | None = None,
    argv: Sequence[str] | None = None,
    signer: Callable[[], MessageSigner] | None = None,
) -> None:
    """Console entry point: `serve` (default), one of the operator's commands
    (`csm_kernel.commands`: `republish`, `verify`, `dead-letters`) or one of the service's own
    `commands` (one of which may replace an operator's command of the same name). Commands read
    `command_settings`: next to `make run` they need no variables
    beyond the ones `make run` reads (`CSM_PG_PORT`, `CSM_BROKER_PORT`). `signer` makes the
    signer `republish` signs with (the one the service's app gives its relay)."""
    parser = argparse.ArgumentParser(prog=f"csm-{name}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the HTTP API, relay and consumers (default)")
    add_commands(sub, skip=(commands or {}).keys())
    for command, spec in (commands or {}).items():
        spec.add_arguments(sub.add_parser(command, help=spec.help))
    args = parser.parse_args(argv)
    configure_logging(name)
    if args.command in (commands or {}):
        sys.exit((commands or {})[args.command].run(args, command_settings(name)))
    if args.command not in (None, "serve"):
        sys.exit(run_command(args, command_settings(name), signer=signer))
    settings = ServiceSettings()
    if settings.workers > 1:
        serve_workers(name, app_factory, settings)
        return
    import uvicorn

    configure_tracing(name)
    uvicorn.run(
        app_factory(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )
