"""The outbox relay: publishes a service's events to Kafka in position order, at least once.

The event store is the outbox (appending an event is recording it for publication, in the same
transaction). The relay keeps its checkpoint in `relay_checkpoints` and moves it only after the
broker has acknowledged everything up to it, so a crash or a broker outage means republishing,
never losing; consumers' tracking tables absorb the duplicates. LISTEN/NOTIFY only wakes it up:
it always re-reads from the checkpoint.

A broker can lose what it acknowledged: the embedded broker (memory storage) comes back empty
after a restart, and a real Kafka can lose the tail of a partition in an unclean leader
election. The producer rides such an outage out without an error, so the relay checks instead:
it remembers the next offset of every partition it has published to (`relay_offsets`, saved with
the checkpoint), and when the broker acknowledges a message at a lower offset, or a partition's
end offset falls below it, history was lost: the relay rewinds its checkpoint to 0 and publishes
everything again (consumers skip what they have). Consumers guard the same promise from their
side by checking store positions for gaps (`csm_kernel.delivery`).

A service may sign what it publishes (`signer`): the relay asks it, for each message and topic,
for a signature over the exact value bytes, and sends it as the `ce_signature` header (a
CloudEvents extension attribute). The signature is made when the message is sent, so a
republished event carries one from the key active then. Questionnaire signs the public topic
(`csm_kernel.signing`, docs/regulators.md).

The relay loop survives anything: a lost database or broker connection, an error of its own.
It reports each pass to its `LoopMonitor`, so a relay that hangs makes the service unhealthy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, UnknownError
from asyncpg.pool import PoolConnectionProxy
from opentelemetry import propagate, trace

from csm_contracts import Topics
from csm_contracts.cloudevents import encode_fields

from .database import is_transient
from .health import LoopMonitor
from .kafka_offsets import high_watermarks, probe_consumer
from .kafka_security import client_options
from .observability import get_logger
from .store.postgres import PostgresEventStore
from .topics_admin import listed_topics, recreate_topic

log = get_logger(__name__)
tracer = trace.get_tracer("csm_kernel.relay")

TopicRouter = Callable[[str], list[str]]
"""Which topics an event type is published to."""

Partition = tuple[str, int]
"""(topic, partition)."""

MessageSigner = Callable[[str, bytes], str | None]
"""`(topic, value) -> signature`: what the relay puts in a message's `ce_signature` header, or
None to send it unsigned (e.g. a topic no outsider reads). `value` is the exact message value."""

SIGNATURE_HEADER = "ce_signature"
"""The header that carries a message's signature (`MessageSigner`)."""


def sign_topics(topics: Collection[str], sign: Callable[[bytes], str]) -> MessageSigner:
    """A signer that signs the messages sent to `topics` with `sign` (e.g. the current
    `KeyRing.sign` of a `csm_kernel.signing.KeyDirectory`) and leaves the others unsigned."""
    wanted = frozenset(topics)

    def signer(topic: str, value: bytes) -> str | None:
        return sign(value) if topic in wanted else None

    return signer


#: The requests a relay batch's span links to (those of its first events).
_LINKED_REQUESTS = 16


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
    options.update(client_options())
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
        history_check_interval: float = 5.0,
        monitor: LoopMonitor | None = None,
        signer: MessageSigner | None = None,
    ) -> None:
        self.store = store
        #: Signs messages as they are sent (`MessageSigner`); None: nothing is signed.
        self.signer = signer
        self.bootstrap = bootstrap
        self.producer = make_producer(bootstrap)
        self._connected = False
        self.name = name
        self.route = route
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        self.history_check_interval = history_check_interval
        self.monitor = monitor or LoopMonitor(f"relay:{name}")
        #: Is this relay the one publishing (several processes of a service may run one)?
        self.leading = False
        #: How many times the broker was found to have lost published events.
        self.history_losses = 0
        #: Events published since this process started (republished ones included), and
        #: passes that failed (`/metrics`).
        self.published = 0
        self.publish_errors = 0
        #: The next offset of each partition published to, as the broker last acknowledged.
        self._next_offsets: dict[Partition, int] = {}
        #: Every topic this relay has published to since it started.
        self._topics: set[str] = set()
        #: Publishes refused in a row with the broker's catch-all error (see `_mend_topics`).
        self._unknown_errors = 0
        self._inspector: AIOKafkaConsumer | None = None
        self._last_history_check = 0.0
        self._wake = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Is the producer connected to the broker?"""
        return self._connected

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
        self._next_offsets = await self._load_offsets()

    async def stop(self) -> None:
        """Flush and disconnect the producer."""
        await self._drop_inspector()
        if self._connected:
            await self.producer.stop()
            self._connected = False

    async def checkpoint(self) -> int:
        """The position up to which everything has been published."""
        value = await self.store.pool.fetchval(
            "SELECT position FROM relay_checkpoints WHERE relay = $1", self.name
        )
        return int(value or 0)

    async def _load_offsets(self) -> dict[Partition, int]:
        rows = await self.store.pool.fetch(
            "SELECT topic, partition, next_offset FROM relay_offsets WHERE relay = $1", self.name
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def _save(
        self, previous: int | None, position: int | None, acked: dict[Partition, int]
    ) -> bool:
        """Record the broker's offsets and, when `position` is given, move the checkpoint from
        `previous` to it; False if someone else moved the checkpoint meanwhile (a rewind)."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            if acked:
                await conn.execute(
                    "INSERT INTO relay_offsets (relay, topic, partition, next_offset) "
                    "SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) "
                    "AS u(t, p, o) ON CONFLICT (relay, topic, partition) DO UPDATE SET "
                    "next_offset = greatest(relay_offsets.next_offset, EXCLUDED.next_offset)",
                    self.name,
                    [t for t, _ in acked],
                    [p for _, p in acked],
                    list(acked.values()),
                )
            if position is None:
                return True
            moved = await conn.fetchval(
                "INSERT INTO relay_checkpoints (relay, position) VALUES ($1, $2) "
                "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position, "
                "updated_at = now() WHERE relay_checkpoints.position = $3 RETURNING true",
                self.name,
                position,
                previous or 0,
            )
            return bool(moved)

    async def _publish(
        self, rows: list[asyncpg.Record], previous: int
    ) -> dict[Partition, tuple[int, int]]:
        """Send rows (`previous`: the position of the stored event before the first) and wait
        for every acknowledgement; the lowest and highest offset the broker gave in each
        partition."""
        # Each message carries the traceparent stored with its event, so the consumer's span
        # joins the trace of the request that caused it. The relay's own span (`_batch_span`)
        # covers the batch: one span per event would cost more than publishing it.
        futures = []
        topics_of: dict[str, list[str]] = {}
        for row in rows:
            (
                position,
                event_id,
                stream_id,
                stream_version,
                type_,
                version,
                occurred_at,
                key,
                correlation_id,
                causation_id,
                actor,
                data,
                prev_hash,
                hash_,
                traceparent,
            ) = row
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
                previous_position=previous,
            )
            previous = position
            if (topics := topics_of.get(type_)) is None:
                topics = topics_of[type_] = self.route(type_)
                self._topics.update(topics)
            for topic in topics:
                sent = headers
                if self.signer is not None and (signature := self.signer(topic, value)):
                    sent = [*headers, (SIGNATURE_HEADER, signature.encode())]
                futures.append(
                    await self.producer.send(topic, value=value, key=key_bytes, headers=sent)
                )
        # Every send must be acknowledged before the checkpoint moves past it.
        offsets: dict[Partition, tuple[int, int]] = {}
        for metadata in await asyncio.gather(*futures):
            tp = (metadata.topic, metadata.partition)
            low, high = offsets.get(tp, (metadata.offset, metadata.offset))
            offsets[tp] = (min(low, metadata.offset), max(high, metadata.offset))
        return offsets

    def _batch_span(self, rows: list[asyncpg.Record]) -> Any:
        """The PRODUCER span of one batch (publishing and moving the checkpoint), linked to the
        requests whose events it carries (the first few: a link each is cheap, a thousand not)."""
        destination = self.route(rows[0]["type"])[0]
        links = []
        for row in rows[:_LINKED_REQUESTS]:
            if not row["trace_context"]:
                continue
            parent = trace.get_current_span(
                propagate.extract({"traceparent": row["trace_context"]})
            ).get_span_context()
            if parent.is_valid:
                links.append(trace.Link(parent))
        return tracer.start_as_current_span(
            f"send {destination}",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": destination,
                "messaging.batch.message_count": len(rows),
                "csm.relay.first_position": rows[0]["position"],
                "csm.relay.last_position": rows[-1]["position"],
            },
            links=links,
        )

    def _lost_history(self, offsets: dict[Partition, tuple[int, int]]) -> list[str]:
        """Partitions where the broker just gave an offset below one it gave before: the
        partition lost messages it had acknowledged (offsets only ever grow)."""
        return [
            f"{topic}[{partition}] offset {low} < {self._next_offsets[(topic, partition)]}"
            for (topic, partition), (low, _) in offsets.items()
            if low < self._next_offsets.get((topic, partition), 0)
        ]

    async def _publish_range(
        self, after: int, to_position: int | None, *, move_checkpoint: bool
    ) -> tuple[int, bool]:
        """Publish positions after `after` (up to `to_position`); how many, and whether the
        range was cut short because the checkpoint was rewound (history lost)."""
        published = 0
        # Positions can have holes (an append rolled back); each message names the stored
        # event before it, so consumers can tell a hole from a loss.
        stored_before = await self.store.position_at_or_before(after)
        while True:
            batch = await self.store.read_for_publication(after, self.batch_size, to_position)
            if not batch:
                return published, False  # an empty poll: no span, no trace
            with self._batch_span(batch) as span:
                offsets = await self._publish(batch, stored_before)
                published += len(batch)
                self.published += len(batch)
                acked = {tp: high + 1 for tp, (_, high) in offsets.items()}
                if lost := self._lost_history(offsets):
                    span.set_attribute("csm.relay.history_lost", True)
                    await self._rewind(lost, acked, {topic for topic, _ in offsets})
                    return published, True
                checkpoint_was, after = after, batch[-1]["position"]
                stored_before = after
                saved = await self._save(checkpoint_was, after if move_checkpoint else None, acked)
            for tp, next_offset in acked.items():
                self._next_offsets[tp] = max(self._next_offsets.get(tp, 0), next_offset)
            self.monitor.beat()
            if not saved:
                return published, True  # another process rewound the checkpoint meanwhile

    async def _rewind(self, why: list[str], acked: dict[Partition, int], topics: set[str]) -> None:
        """The broker lost published events: publish everything again, from position 0."""
        self.history_losses += 1
        log.warning(
            "broker lost published events; republishing everything",
            relay=self.name,
            partitions=why[:20],
        )
        if await self._mend_topics(topics, unlisted_only=True):
            acked = {}  # what was just acknowledged went to a topic that has been recreated
        async with self.store.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM relay_offsets WHERE relay = $1", self.name)
            await conn.execute(
                "INSERT INTO relay_checkpoints (relay, position) VALUES ($1, 0) "
                "ON CONFLICT (relay) DO UPDATE SET position = 0, updated_at = now()",
                self.name,
            )
        # What the broker acknowledged just now is on its new history: the new baseline.
        await self._save(None, None, acked)
        self._next_offsets = dict(acked)

    async def publish_pending(self) -> int:
        """Publish everything after the checkpoint; returns how many events were published."""
        published, rewound = 0, True
        while rewound:
            count, rewound = await self._publish_range(
                await self.checkpoint(), None, move_checkpoint=True
            )
            published += count
        return published

    async def republish(self, from_position: int = 0, to_position: int | None = None) -> int:
        """Publish positions after `from_position` up to `to_position` again (e.g. to refill an
        empty broker); the checkpoint does not move (unless the broker is found to have lost
        history, when it goes back to 0). Consumers skip what they already have."""
        published, _ = await self._publish_range(from_position, to_position, move_checkpoint=False)
        return published

    async def check_broker_history(self, *, force: bool = False) -> bool:
        """Compare every partition's end offset with the offsets the broker acknowledged; if
        one is lower, rewind so that everything is published again. True if it rewound.

        Catches the loss while nothing new is being published (an idle relay would otherwise
        only notice at its next event). Runs at most every `history_check_interval` seconds
        unless `force`."""
        now = asyncio.get_running_loop().time()
        if not self._next_offsets or (
            not force and now - self._last_history_check < self.history_check_interval
        ):
            return False
        self._last_history_check = now
        expected = {TopicPartition(t, p): n for (t, p), n in self._next_offsets.items()}
        lost = await self._partitions_ending_short(expected)
        if lost:
            # Confirm on a fresh connection: a probe that lived through a broker restart has
            # been seen to report a partition's end as 0 once the partition was refilled, and
            # a rewind republishes the whole store.
            await self._drop_inspector()
            lost = await self._partitions_ending_short(expected)
        if lost:
            await self._rewind(lost, {}, {tp.topic for tp in expected})
            return True
        return False

    async def _mend_topics(self, topics: set[str], *, unlisted_only: bool) -> bool:
        """Recreate those of `topics` the broker has broken (`csm_kernel.topics_admin`): with
        `unlisted_only`, those it does not list (records written to them are stray); else all
        of them (writes to them keep failing). The producer starts afresh, with no metadata
        from before. True if any topic was recreated."""
        listed = await listed_topics(self.bootstrap) if unlisted_only else set()
        broken = sorted(t for t in topics if t not in listed)
        for topic in broken:
            # A defined topic comes back as defined, whatever a client's first request made of
            # it meanwhile (the embedded broker creates a topic of 4 partitions on first use).
            partitions = self.producer.client.cluster.partitions_for_topic(topic)
            await recreate_topic(
                self.bootstrap,
                topic,
                None if Topics.definition(topic) else (len(partitions or ()) or None),
            )
        if broken:
            await self._fresh_producer()
        return bool(broken)

    async def _fresh_producer(self) -> None:
        if self._connected:
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self._connected = False
        self.producer = make_producer(self.bootstrap)
        await self.start()

    async def _partitions_ending_short(self, expected: dict[TopicPartition, int]) -> list[str]:
        if self._inspector is None:
            self._inspector = probe_consumer(self.bootstrap)
            await self._inspector.start()
        try:
            ends = await high_watermarks(self._inspector, expected)
        except Exception:
            await self._drop_inspector()
            raise
        return [
            f"{tp.topic}[{tp.partition}] ends at {end} < {expected[tp]}"
            for tp, end in ends.items()
            if end is not None and end < expected[tp]
        ]

    async def _drop_inspector(self) -> None:
        inspector, self._inspector = self._inspector, None
        if inspector is not None:
            with contextlib.suppress(Exception):
                await inspector.stop()

    def wake(self) -> None:
        """Ask the running relay to look for new events now."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: on NOTIFY, on `wake()`, and every `poll_interval`.

        Nothing ends this loop but `stop`: a lost database, a lost broker or a fault of its own
        is logged, reported to the monitor and tried again with a growing pause. The LISTEN
        connection goes back to the pool however a pass ends (or closing the pool would wait
        for it forever)."""
        listener: PoolConnectionProxy[asyncpg.Record] | None = None
        backoff = 0.2
        try:
            while not stop.is_set():
                try:
                    await self.start()
                    if listener is not None and listener.is_closed():
                        await self._release(listener)
                        listener = None
                    if listener is None:
                        conn = await self.store.pool.acquire()
                        if not await self._lead(conn):
                            # Another process of this service relays; stand by in case it stops.
                            await self.store.pool.release(conn)
                            self.monitor.beat()
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stop.wait(), self.standby_interval)
                            continue
                        listener = conn
                        await conn.add_listener("csm_events", self._on_notify)
                        self._next_offsets = await self._load_offsets()
                        await self.check_broker_history(force=True)
                    self._wake.clear()
                    await self.publish_pending()
                    await self.check_broker_history()
                    self.monitor.beat()
                    self._unknown_errors = 0
                    backoff = 0.2
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except Exception as exc:
                    self.monitor.failed(exc)
                    self.publish_errors += 1
                    if is_transient(exc) or isinstance(exc, KafkaError):
                        log.warning("relay could not publish; will retry", error=str(exc))
                    else:
                        log.exception("relay failed; will retry", relay=self.name)
                    if isinstance(exc, UnknownError):
                        await self._after_unknown_error()
                    await self._release(listener)
                    listener = None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._release(listener)

    async def _after_unknown_error(self) -> None:
        """The embedded broker refuses every write to a topic it recreated over stray records
        with its catch-all error: after two in a row, recreate the topics and start again."""
        self._unknown_errors += 1
        if self._unknown_errors < 2:
            return
        self._unknown_errors = 0
        with contextlib.suppress(Exception):
            if await self._mend_topics(set(self._topics), unlisted_only=False):
                await self._rewind(["writes refused (UnknownError)"], {}, set())

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
        """Give the LISTEN connection back, unlocked; never raises (it runs in error paths).

        A connection that may still hold the leadership lock is closed rather than pooled, so
        no request ever draws a connection holding it."""
        if listener is None:
            return
        was_leading, self.leading = self.leading, False
        with contextlib.suppress(Exception):
            await listener.remove_listener("csm_events", self._on_notify)
        unlocked = not was_leading
        if was_leading:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    listener.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK), 5
                )
                unlocked = True
        if not unlocked:
            with contextlib.suppress(Exception):
                listener.terminate()
        with contextlib.suppress(Exception):
            await self.store.pool.release(listener)
