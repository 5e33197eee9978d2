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
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from faststream.kafka import KafkaBroker

from .auth import TokenVerifier
from .consumer import EventConsumer, Handler
from .database import connect_pool, database_ready, migrate
from .edge import install_edge
from .http import add_health, install_error_handlers, instrument
from .kafka import BrokerDeadLetters, dead_letter_topic, make_broker, subscribe
from .observability import configure_logging, configure_tracing, get_logger
from .process import freeze_startup_heap
from .relay import OutboxRelay
from .settings import ServiceSettings
from .store.base import EventStore
from .store.postgres import PostgresEventStore
from .verify import verify_all
from .workers import serve_workers

log = get_logger(__name__)


@dataclass
class Runtime:
    """What a running service holds: settings, pool, store, relay and broker."""

    name: str
    settings: ServiceSettings
    pool: asyncpg.Pool | None = None
    store: EventStore | None = None
    relay: OutboxRelay | None = None
    broker: KafkaBroker | None = None

    def require_store(self) -> EventStore:
        """The event store; the service must be started."""
        assert self.store is not None, "service not started"
        return self.store

    def require_pool(self) -> asyncpg.Pool:
        """The connection pool; the service must be started."""
        assert self.pool is not None, "service not started"
        return self.pool


Subscriptions = Callable[[Runtime, KafkaBroker], None]
BackgroundTask = Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]]
"""A loop a service runs beside its API until the event is set (e.g. a mail sender)."""


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
    background: Sequence[BackgroundTask] = (),
    on_start: Callable[[Runtime, FastAPI], Awaitable[None] | None] | None = None,
    description: str = "",
) -> FastAPI:
    """A service's FastAPI app with its lifespan wired."""
    runtime = Runtime(name=name, settings=settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.pool = await connect_pool(settings.database_url, size=settings.db_pool_size)
        await migrate(runtime.pool, name, migrations)
        store = PostgresEventStore(runtime.pool)
        runtime.store = store
        stop = asyncio.Event()
        relay_task: asyncio.Task[None] | None = None
        consumers_task: asyncio.Task[None] | None = None
        if publishes:
            # The relay connects to the broker itself, retrying: a service whose broker is
            # down still starts, takes requests and keeps their events for later.
            runtime.relay = OutboxRelay(store, settings.kafka_bootstrap)
            relay_task = asyncio.create_task(runtime.relay.run(stop), name=f"{name}-relay")
        if subscriptions is not None:
            runtime.broker = make_broker(settings.kafka_bootstrap)
            subscriptions(runtime, runtime.broker)
            consumers_task = asyncio.create_task(
                _retry_forever(runtime.broker.start, "consumers"), name=f"{name}-consumers"
            )
        tasks = [asyncio.create_task(task(runtime, stop)) for task in background]
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
            for task in tasks:
                await _finish(task, 10)
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
    if settings.auth_public_key_file is not None:
        app.state.token_verifier = TokenVerifier(settings.auth_public_key_file.read_bytes())
    install_error_handlers(app)
    install_edge(app, settings.max_request_bytes)  # NUL, bad UTF-8, oversized bodies: 422/413

    async def ready() -> bool:
        return runtime.pool is not None and await database_ready(runtime.pool)

    add_health(app, ready)
    for router in routers:
        app.include_router(router)
    instrument(app)
    return app


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
) -> None:
    """An idempotent consumer of `topic` applying `handlers`, with the service's retry and
    consumer-group settings and its group's dead-letter topic."""
    subscribe(
        broker,
        topic,
        EventConsumer(
            consumer,
            runtime.require_pool(),
            handlers,
            BrokerDeadLetters(broker),
            dead_letter_topic(group_id),
            max_attempts=runtime.settings.consumer_max_attempts,
        ),
        group_id=group_id,
        session_timeout_ms=runtime.settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=runtime.settings.kafka_heartbeat_interval_ms,
        description=description,
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


async def _republish(settings: ServiceSettings, start: int, end: int | None) -> int:
    pool = await connect_pool(settings.database_url, size=2)
    relay = OutboxRelay(PostgresEventStore(pool), settings.kafka_bootstrap)
    await relay.start()
    try:
        return await relay.republish(start, end)
    finally:
        await relay.stop()
        await pool.close()


async def _verify(settings: ServiceSettings) -> int:
    pool = await connect_pool(settings.database_url, size=2)
    try:
        broken = await verify_all(PostgresEventStore(pool).iterate_all())
    finally:
        await pool.close()
    for link in broken:
        print(f"BROKEN {link.stream_id} at version {link.stream_version}: {link.reason}")
    if not broken:
        print("every stream's hash chain holds")
    return 1 if broken else 0


def service_main(name: str, app_factory: Callable[[ServiceSettings], FastAPI]) -> None:
    """Console entry point: `serve` (default), `republish --from N [--to M]`, `verify`."""
    parser = argparse.ArgumentParser(prog=f"csm-{name}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API, relay and consumers (default)")
    rep = sub.add_parser("republish", help="publish a range of stored events to Kafka again")
    rep.add_argument("--from", dest="start", type=int, default=0, help="after this position")
    rep.add_argument("--to", dest="end", type=int, default=None, help="up to this position")
    sub.add_parser("verify", help="check every stream's hash chain")
    args = parser.parse_args()
    settings = ServiceSettings()
    configure_logging(name)
    if args.command == "republish":
        count = asyncio.run(_republish(settings, args.start, args.end))
        print(f"republished {count} events")
        return
    if args.command == "verify":
        sys.exit(asyncio.run(_verify(settings)))
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
