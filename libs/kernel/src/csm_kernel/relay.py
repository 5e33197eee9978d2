"""The outbox relay: publishes a service's events to Kafka in position order, at least once.

The event store is the outbox (appending an event is recording it for publication, in the same
transaction). The relay keeps its checkpoint in `relay_checkpoints` and moves it only after the
broker has acknowledged everything up to it, so a crash or a broker outage means republishing,
never losing; consumers' tracking tables absorb the duplicates. LISTEN/NOTIFY only wakes it up:
it always re-reads from the checkpoint.

With memory-storage brokers (Tansu in the embedded stack) a restarted broker has no topics:
`ensure_broker_has_history` notices the topic is empty while the checkpoint is not, and rewinds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from asyncpg.pool import PoolConnectionProxy
from opentelemetry import trace

from csm_contracts import Topics
from csm_contracts.cloudevents import encode_fields

from .observability import get_logger
from .store.postgres import PostgresEventStore

log = get_logger(__name__)
tracer = trace.get_tracer("csm_kernel.relay")

TopicRouter = Callable[[str], list[str]]
"""Which topics an event type is published to."""


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    """A producer for ordered at-least-once publishing.

    No idempotence: the embedded broker does not support InitProducerId. Ordering per partition
    still holds because aiokafka sends one batch per partition at a time.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 15000,
        "enable_idempotence": False,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


#: The advisory lock (session-level) that makes one relay per database the publisher. Distinct
#: from the store's position lock (7300000) and the migration lock (7300001): sharing the
#: latter made every other process's migrations wait for as long as the leader lived.
RELAY_LOCK = 7300002


class OutboxRelay:
    """Moves events from a PostgreSQL event store to Kafka."""

    def __init__(
        self,
        store: PostgresEventStore,
        bootstrap: str,
        *,
        name: str = "kafka",
        route: TopicRouter = Topics.for_event,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        standby_interval: float = 2.0,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.producer = make_producer(bootstrap)
        self._connected = False
        self.name = name
        self.route = route
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        #: Is this relay the one publishing (several processes of a service may run one)?
        self.leading = False
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Connect the producer (`run` does this itself, retrying until the broker answers)."""
        if self._connected:
            return
        try:
            await self.producer.start()
        except BaseException:
            # A producer that failed to start cannot be started again: use a fresh one.
            await self.producer.stop()
            self.producer = make_producer(self.bootstrap)
            raise
        self._connected = True

    async def stop(self) -> None:
        """Flush and disconnect the producer."""
        if self._connected:
            await self.producer.stop()
            self._connected = False

    async def checkpoint(self) -> int:
        """The position up to which everything has been published."""
        value = await self.store.pool.fetchval(
            "SELECT position FROM relay_checkpoints WHERE relay = $1", self.name
        )
        return int(value or 0)

    async def _save_checkpoint(self, position: int) -> None:
        await self.store.pool.execute(
            "INSERT INTO relay_checkpoints (relay, position) VALUES ($1, $2) "
            "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
            self.name,
            position,
        )

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        # Each message carries the traceparent stored with its event, so the consumer's span
        # joins the trace of the request that caused it. The relay's own span covers the batch:
        # one span per event would cost more than publishing it.
        futures = []
        topics_of: dict[str, list[str]] = {}
        with tracer.start_as_current_span(
            "csm.relay publish",
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.batch.message_count": len(rows)},
        ):
            for row in rows:
                (position, event_id, stream_id, stream_version, type_, version, occurred_at,
                 key, correlation_id, causation_id, actor, data, prev_hash, hash_,
                 traceparent) = row  # fmt: skip
                key_bytes, value, headers = encode_fields(
                    event_id=event_id,
                    event_type=type_,
                    version=version,
                    time=occurred_at.isoformat(timespec="microseconds"),
                    stream_id=stream_id,
                    stream_version=stream_version,
                    key=key,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                    actor=actor,
                    prev_hash=prev_hash,
                    hash_=hash_,
                    position=position,
                    data_json=data,
                    traceparent=traceparent,
                )
                if (topics := topics_of.get(type_)) is None:
                    topics = topics_of[type_] = self.route(type_)
                for topic in topics:
                    futures.append(
                        await self.producer.send(topic, value=value, key=key_bytes, headers=headers)
                    )
            # Every send must be acknowledged before the checkpoint moves past it.
            await asyncio.gather(*futures)

    async def _publish_range(
        self, after: int, to_position: int | None, *, move_checkpoint: bool
    ) -> int:
        published = 0
        while True:
            batch = await self.store.read_for_publication(after, self.batch_size, to_position)
            if not batch:
                return published
            await self._publish(batch)
            after = batch[-1]["position"]
            if move_checkpoint:
                await self._save_checkpoint(after)
            published += len(batch)

    async def publish_pending(self) -> int:
        """Publish everything after the checkpoint; returns how many events were published."""
        return await self._publish_range(await self.checkpoint(), None, move_checkpoint=True)

    async def republish(self, from_position: int = 0, to_position: int | None = None) -> int:
        """Publish positions after `from_position` up to `to_position` again (e.g. to refill an
        empty broker); the checkpoint does not move. Consumers skip what they already have."""
        return await self._publish_range(from_position, to_position, move_checkpoint=False)

    async def ensure_broker_has_history(self) -> bool:
        """Rewind the checkpoint to 0 when the broker lost its topics; True if it did."""
        checkpoint = await self.checkpoint()
        if checkpoint == 0:
            return False
        topics = {t for ev in await self.store.read_all(0, 1) for t in self.route(ev.type)}
        for topic in topics:
            partitions = await self.producer.partitions_for(topic)
            if partitions:
                consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
                await consumer.start()
                try:
                    ends = await consumer.end_offsets(
                        [TopicPartition(topic, p) for p in partitions]
                    )
                finally:
                    await consumer.stop()
                if sum(ends.values()) > 0:
                    continue
            log.warning(
                "broker has lost its history; republishing", topic=topic, checkpoint=checkpoint
            )
            await self._save_checkpoint(0)
            return True
        return False

    def wake(self) -> None:
        """Ask the running relay to look for new events now."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: on NOTIFY, on `wake()`, and every `poll_interval`.

        The LISTEN connection goes back to the pool however this ends (stop or cancellation),
        or closing the pool would wait for it forever.
        """
        listener: PoolConnectionProxy[asyncpg.Record] | None = None
        backoff = 0.2
        try:
            while not stop.is_set():
                try:
                    await self.start()
                    if listener is None or listener.is_closed():
                        conn = await self.store.pool.acquire()
                        if not await self._lead(conn):
                            # Another process of this service relays; stand by in case it stops.
                            await self.store.pool.release(conn)
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stop.wait(), self.standby_interval)
                            continue
                        listener = conn
                        await conn.add_listener("csm_events", self._on_notify)
                        await self.ensure_broker_has_history()
                    self._wake.clear()
                    await self.publish_pending()
                    backoff = 0.2
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except (KafkaError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("relay could not publish; will retry", error=str(exc))
                    await self._release(listener)
                    listener = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._release(listener)

    async def _lead(self, conn: PoolConnectionProxy[asyncpg.Record]) -> bool:
        """Take the relay's leadership: a session lock held by the LISTEN connection, so one
        process of a service relays at a time and another takes over when it goes (the lock
        goes with its connection, and `_release` unlocks it before the connection returns to
        the pool, which does not reset sessions)."""
        taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK)
        if taken and not self.leading:
            log.info("relay leading", relay=self.name)
        self.leading = bool(taken)
        return self.leading

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _release(self, listener: PoolConnectionProxy[asyncpg.Record] | None) -> None:
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.remove_listener("csm_events", self._on_notify)
            if self.leading:
                self.leading = False
                try:
                    await listener.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)
                except Exception:  # a connection that may still hold the lock must not be reused
                    listener.terminate()
            with contextlib.suppress(Exception):
                await self.store.pool.release(listener)
