"""The relay and the consumers against the faults that used to lose effects downstream: a
PostgreSQL restart (clean and crashed), a broker that comes back empty, positions that never
arrive. Real PostgreSQL, real broker; nothing restarted by hand but the servers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from csm_contracts import Topics
from csm_contracts.events import OrganisationRegistered
from csm_kernel.consumer import EventConsumer
from csm_kernel.database import connect_pool, migrate
from csm_kernel.health import LoopMonitor, supervise
from csm_kernel.kafka import BrokerDeadLetters, make_broker, subscribe
from csm_kernel.relay import OutboxRelay
from csm_kernel.republish import RepublishRequestListener
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from csm_kernel.watchdog import ConsumerWatchdog, Subscription
from kafka_helpers import eventually, headers_of, read_topic, unique_topic


def _organisation(i: int) -> NewEvent:
    code = f"R{i:03d}"
    return NewEvent.from_payload(
        OrganisationRegistered(
            organisation_id=code, code=code, name=f"Org {i}", kind="pct", region="london"
        )
    )


async def _append(store: PostgresEventStore, first: int, count: int) -> None:
    for i in range(first, first + count):
        await store.append(f"organisation-{i}", 0, [_organisation(i)], AppendContext(actor="t"))


async def _append_when_back(store: PostgresEventStore, i: int) -> None:
    """Append once the database accepts connections again."""
    deadline = time.monotonic() + 60
    while True:
        try:
            await _append(store, i, 1)
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@dataclass
class Pipeline:
    """A store, its running relay (with the republish-request listener) and its pool."""

    pool: asyncpg.Pool
    store: PostgresEventStore
    relay: OutboxRelay
    topic: str
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]


@pytest.fixture
async def pipeline(infra) -> AsyncIterator[Pipeline]:
    pool = await connect_pool(await infra.create_database("rec"), size=6)
    await migrate(pool, "test", None)
    store = PostgresEventStore(pool)
    topic = unique_topic("recovery")
    monitor = LoopMonitor("relay", stall_after=60)
    relay = OutboxRelay(
        store,
        infra.bootstrap,
        route=lambda _t: [topic],
        poll_interval=0.1,
        history_check_interval=0.5,
        monitor=monitor,
    )
    listener = RepublishRequestListener(relay, "registration", infra.bootstrap)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(supervise(monitor, lambda: relay.run(stop), stop)),
        asyncio.create_task(listener.run(stop)),
    ]
    try:
        yield Pipeline(pool, store, relay, topic, stop, tasks)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await relay.stop()
        infra.ensure_broker_running()
        await asyncio.wait_for(pool.close(), 10)


async def _published(infra, topic: str, count: int) -> set[str]:
    return {headers_of(r)["ce_id"] for r in await read_topic(infra.bootstrap, topic, count)}


async def _store_ids(store: PostgresEventStore) -> set[str]:
    return {str(e.event_id) for e in await store.read_all(0, 10_000)}


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_relay_outlives_postgres_restarting(pipeline: Pipeline, infra, mode: str) -> None:
    await _append(pipeline.store, 0, 3)
    await eventually(lambda: _has_all(infra, pipeline, 3), what="the first events on the topic")
    await asyncio.to_thread(infra.stop_postgres, mode)
    await asyncio.sleep(1.5)  # the relay fails meanwhile
    await asyncio.to_thread(infra.start_postgres)
    await _append_when_back(pipeline.store, 3)
    await eventually(
        lambda: _has_all(infra, pipeline, 4), timeout=60, what="the event appended after"
    )
    monitor = pipeline.relay.monitor
    assert monitor.problem() is None and not monitor.crashes  # never died, never restarted
    assert monitor.recoveries, "the relay reports the outage it rode out"
    print(f"relay recovered {monitor.recoveries[-1]:.2f} s after PostgreSQL ({mode}) went away")
    # The LISTEN connection went back to the pool each time: none leaked.
    assert pipeline.pool.get_size() <= 6


async def _has_all(infra, pipeline: Pipeline, count: int) -> bool:
    return await _published(infra, pipeline.topic, count) >= await _store_ids(pipeline.store)


async def test_a_broker_restarted_empty_gets_everything_again(pipeline: Pipeline, infra) -> None:
    await _append(pipeline.store, 0, 10)
    await eventually(lambda: _has_all(infra, pipeline, 10), what="the events on the topic")
    # Lost while idle: the relay's own check finds the partitions ending short.
    await asyncio.to_thread(infra.restart_broker)
    await eventually(lambda: _has_all(infra, pipeline, 10), timeout=60, what="a refill")
    assert pipeline.relay.history_losses == 1
    # Lost while publishing: the broker acknowledges at offsets below those it gave before.
    await asyncio.to_thread(infra.restart_broker)
    await _append(pipeline.store, 10, 3)
    await eventually(lambda: _has_all(infra, pipeline, 13), timeout=60, what="another refill")
    assert pipeline.relay.history_losses == 2


async def test_a_consumer_heals_a_broker_restart_and_missing_positions(
    pipeline: Pipeline, infra, pg_pool: asyncpg.Pool
) -> None:
    """End to end: the consumer sees every event exactly once although the broker restarts
    empty under it (offsets lost, the group's position past the new end) and a range of
    positions never reaches it until it asks for them."""
    await pg_pool.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, code text)")

    async def handler(conn: Any, envelope: Any, event: OrganisationRegistered) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", envelope.event_id, event.code)

    broker = make_broker(infra.bootstrap)
    consumer = EventConsumer(
        "recovering",
        pg_pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        BrokerDeadLetters(broker),
        f"{pipeline.topic}.dlq",
        backoff=0.01,
        delivery_delay=1.0,
        tracked=lambda topic: topic == pipeline.topic,
    )
    subscriber = subscribe(
        broker,
        pipeline.topic,
        consumer,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    watchdog = ConsumerWatchdog(
        [Subscription(subscriber, consumer)],
        lambda request: broker.publish(
            request.model_dump_json().encode(), topic=Topics.REPUBLISH_REQUESTS
        ),
        interval=0.5,
    )
    stop = asyncio.Event()

    async def effects() -> int:
        return int(await pg_pool.fetchval("SELECT count(*) FROM effects"))

    await broker.start()
    watching = asyncio.create_task(watchdog.run(stop))
    try:
        await _append(pipeline.store, 0, 20)
        await eventually(lambda: _equals(effects, 20), timeout=60, what="the first 20 effects")

        await asyncio.to_thread(infra.restart_broker)
        await _append(pipeline.store, 20, 10)
        await eventually(lambda: _equals(effects, 30), timeout=90, what="30 effects after it")

        # Positions that never arrive: published around a hole the relay never fills itself.
        await pipeline.pool.execute("UPDATE relay_checkpoints SET position = position + 5")
        await _append(pipeline.store, 30, 10)  # positions 31-35 are skipped, 36-40 published
        await eventually(
            lambda: _equals(effects, 40), timeout=60, what="the missing range asked for again"
        )
        assert consumer.delivery.gaps_detected >= 1
        assert await consumer.delivery.contiguous(pipeline.topic) == 40
        assert await consumer.delivery.gaps() == []
        assert watchdog.requests_sent >= 1
        assert consumer.dead_lettered == 0
    finally:
        stop.set()
        await watching
        await broker.stop()


async def _equals(count: Any, expected: int) -> bool:
    found = await count()
    assert found <= expected, f"{found} effects: more than the {expected} events"
    return bool(found == expected)
