"""Idempotent event consumers with a tracking table and a dead-letter topic.

Each message is handled in one PostgreSQL transaction that first records `(consumer, event_id)`
in `processed_messages` and then applies the handler's effect: a redelivered or replayed message
finds its row and has no second effect. The Kafka offset is committed only after that
transaction commits. Rows older than the de-duplication window are pruned, and a redelivery
below the pruned mark is still known handled (`csm_kernel.tracking`).

A message of a type the consumer has no handler for is ignored on what its headers say, its
value never decoded: a version of it that this release has no model for (the next release's,
in a rolling upgrade) is no concern of a consumer that would ignore the event anyway. A
message of a handled type that cannot be decoded, has an unknown version or invalid payload,
a message whose headers do not plainly say what it is, or one whose handler keeps failing, is
dead-lettered with the reason: kept in the consumer's `dead_letters` table
(`csm_kernel.dead_letters`) and published to the group's dead-letter topic; the consumer
carries on. Retries are bounded with exponential backoff (FastStream's own `nack` would re-seek
at once, a hot loop). Losing the database is not the message's fault: connection errors are
retried until the database is back, never dead-lettered.

Every delivered message's store position is recorded too (`csm_kernel.delivery`), whatever
became of it, so that positions that never arrive can be found and asked for again.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from pydantic import ValidationError

from csm_contracts import Topics
from csm_contracts.cloudevents import UndecodableMessage, declared_event, decode, header_map
from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import EventPayload, UnknownEventType, payload_class

from . import dead_letters
from . import tracking as tracking_table
from .database import Connection, is_transient
from .delivery import DeliveryTracker, Received
from .health import LoopMonitor
from .observability import continued_span, get_logger
from .upcasting import UPCASTERS, Upcasters

log = get_logger(__name__)

Handler = Callable[["Connection", EventEnvelope, Any], Awaitable[None]]
#: Applies a batch of first-time events, in order, on the transaction that tracks them all.
BatchHandler = Callable[["Connection", Sequence[tuple[EventEnvelope, Any]]], Awaitable[None]]


#: How long a dead letter's publication to the dead-letter topic is retried.
DEAD_LETTER_PUBLISH_SECONDS = 30.0


def tracks_every_position(topic: str) -> bool:
    """Does `topic` carry every event of one service (so its positions must all arrive)?"""
    return Topics.source_of(topic) is not None


class RejectedMessage(Exception):
    """Raised by a handler for a message it can never handle (e.g. an email event with no
    recipient): dead-lettered at once with this reason, not retried."""


class NotYetKnown(Exception):
    """Raised by a handler whose message depends on a fact another stream brings that has not
    arrived yet (a sign-off whose lead registration has not announced to this consumer: the two
    come on different topics, partitions and consumer groups, so either may come first). The
    message is tried again, with a growing pause and its partition held, for up to the
    consumer's `dependency_wait` seconds; then it is dead-lettered (`not-yet-known`)."""


class Outcome(enum.Enum):
    """What became of one message."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead-lettered"


@dataclass(frozen=True)
class IncomingMessage:
    """A Kafka record, independent of the client library that fetched it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class DeadLetterSink(Protocol):
    """Where dead letters go (a Kafka topic in production, a list in unit tests)."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]
    ) -> None:
        """Publish one dead letter and wait for the broker's acknowledgement."""
        ...


class EventConsumer:
    """Applies events to one consumer's state exactly once, or dead-letters them."""

    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        handlers: Mapping[str, Handler],
        dead_letters: DeadLetterSink,
        dead_letter_topic: str,
        *,
        upcasters: Upcasters = UPCASTERS,
        max_attempts: int = 3,
        backoff: float = 0.1,
        batch_handler: BatchHandler | None = None,
        delivery_delay: float = 30.0,
        dependency_wait: float = 120.0,
        tracked: Callable[[str], bool] = tracks_every_position,
        monitor: LoopMonitor | None = None,
        dedup_window: float = 7 * 24 * 3600.0,
        prune_every: float = 600.0,
    ) -> None:
        self.name = name
        #: How long a handled message's tracking row is kept (`csm_kernel.tracking`).
        self.dedup_window = dedup_window
        self.prune_every = prune_every
        self._next_prune = time.monotonic() + min(prune_every, 60.0)
        self.tracking_rows_pruned = 0
        self.batch_handler = batch_handler
        self.pool = pool
        self.handlers = dict(handlers)
        self.dead_letters = dead_letters
        self.dead_letter_topic = dead_letter_topic
        self.upcasters = upcasters
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.dependency_wait = dependency_wait
        #: times a handler said what its message depends on had not arrived yet (`/metrics`).
        self.waits = 0
        self.delivery = DeliveryTracker(name, pool, delivery_delay=delivery_delay)
        self.tracked = tracked
        self.monitor = monitor or LoopMonitor(f"consumer:{name}")
        self.dead_lettered = 0
        #: What became of the messages handled since this process started, and the handler
        #: attempts that failed and were retried (`/metrics`).
        self.outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self.retries = 0
        #: Offset commits that failed in a row (see `csm_kernel.kafka`).
        self.commit_failures = 0

    def _received(self, msg: IncomingMessage, envelope: EventEnvelope | None) -> list[Received]:
        """The store positions this message covers, if its topic's positions are tracked
        (read from the headers when the message itself could not be decoded)."""
        if not self.tracked(msg.topic):
            return []
        return self._positions(msg.topic, header_map(msg.headers), envelope)

    @staticmethod
    def _positions(
        topic: str, headers: Mapping[str, str], envelope: EventEnvelope | None
    ) -> list[Received]:
        if envelope is not None:
            position, event_type = envelope.position, envelope.type
        else:
            raw, event_type = headers.get("ce_position"), headers.get("ce_type", "")
            position = int(raw) if raw is not None and raw.isdigit() else None
        if position is None or "." not in event_type:
            return []
        before = headers.get("ce_previousposition", "")
        previous = int(before) if before.isdigit() and int(before) < position else position - 1
        return [(topic, event_type.split(".", 1)[0], position, previous)]

    async def _wait_for_database(self, exc: BaseException, delay: float) -> float:
        self.monitor.failed(exc)
        log.warning("database unavailable; retrying", consumer=self.name, error=str(exc))
        await asyncio.sleep(delay)
        return min(delay * 2, 5.0)

    async def _dead_letter(
        self,
        msg: IncomingMessage,
        reason: str,
        error: str,
        attempts: int,
        envelope: EventEnvelope | None = None,
    ) -> Outcome:
        headers = header_map(msg.headers)
        headers.update(
            {
                "dlq_consumer": self.name,
                "dlq_reason": reason,
                "dlq_error": error[:2000],
                "dlq_attempts": str(attempts),
                "dlq_source_topic": msg.topic,
                "dlq_source_partition": str(msg.partition),
                "dlq_source_offset": str(msg.offset),
            }
        )
        delay = self.backoff
        while True:  # kept in the database first: the topic may forget it
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    publish = await dead_letters.record(
                        conn,
                        consumer=self.name,
                        event_id=envelope.event_id if envelope else None,
                        event_type=envelope.type if envelope else headers.get("ce_type"),
                        topic=msg.topic,
                        partition=msg.partition,
                        offset=msg.offset,
                        key=msg.key,
                        value=msg.value,
                        headers=headers,
                        reason=reason,
                        error=error,
                        attempts=attempts,
                    )
                    await self.delivery.record(conn, self._received(msg, envelope))
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = await self._wait_for_database(exc, delay)
        delay, deadline = self.backoff, time.monotonic() + DEAD_LETTER_PUBLISH_SECONDS
        while publish:
            try:
                await self.dead_letters.send(self.dead_letter_topic, msg.key, msg.value, headers)
                break
            except Exception as exc:  # the broker is down: it is kept already; try again
                if time.monotonic() > deadline:
                    # Kept in the database, which is what counts: never hold the consumer up.
                    log.error("dead letter kept but not published", error=str(exc))
                    break
                log.warning("dead-letter publish failed; retrying", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.dead_lettered += 1
        log.warning(
            "message dead-lettered" if publish else "message dead-lettered again",
            consumer=self.name,
            reason=reason,
            error=error[:500],
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        )
        return Outcome.DEAD_LETTERED

    def _unhandled(self, msg: IncomingMessage) -> list[Received] | None:
        """The store positions of a message no handler here takes, judged by its headers alone;
        None if it must be decoded: its type is handled (or a batch handler takes every type),
        or its headers do not plainly say what it is (`declared_event`)."""
        if self.batch_handler is not None:
            return None
        # The type alone first: a handled message pays only this scan before decoding.
        raw: bytes | bytearray | str | None = None
        for name, value in msg.headers:
            if name == "ce_type":
                raw = value  # the last one counts, as in `header_map`
        if raw is None:
            return None
        raw_type = (
            raw.decode("utf-8", errors="replace") if isinstance(raw, bytes | bytearray) else raw
        )
        if raw_type in self.handlers:
            return None
        headers = header_map(msg.headers)
        if declared_event(headers) is None:
            return None
        return self._positions(msg.topic, headers, None) if self.tracked(msg.topic) else []

    def _read(
        self, msg: IncomingMessage
    ) -> tuple[EventEnvelope, EventPayload] | tuple[EventEnvelope | None, str, str]:
        """The message's envelope and payload; or what is wrong with it (the envelope if it
        could be read, the dead-letter reason and the error)."""
        try:
            envelope = self.upcasters.upcast(decode(msg.headers, msg.value))
        except UndecodableMessage as exc:
            return None, "undecodable", str(exc)
        try:
            model = payload_class(envelope.type, envelope.version)
            return envelope, model.model_validate(envelope.data)
        except UnknownEventType as exc:
            return envelope, "unknown-event-type", str(exc)
        except ValidationError as exc:
            return envelope, "invalid-payload", str(exc)

    def _tracking(self, msg: IncomingMessage, envelope: EventEnvelope) -> tracking_table.Tracked:
        """How the tracking table records this message (with its position where the topic's
        positions are tracked, so old rows can be pruned: `csm_kernel.tracking`)."""
        if envelope.position is None or not self.tracked(msg.topic):
            return tracking_table.Tracked(envelope.event_id, envelope.type)
        return tracking_table.Tracked(
            envelope.event_id, envelope.type, msg.topic, envelope.position
        )

    async def prune_tracking(self) -> int:
        """Delete tracking rows the de-duplication window no longer needs, at most once per
        `prune_every` seconds (`csm_kernel.tracking`); how many went."""
        now = time.monotonic()
        if now < self._next_prune:
            return 0
        self._next_prune = now + self.prune_every
        pruned = await tracking_table.prune(self.pool, self.name, self.dedup_window)
        self.tracking_rows_pruned += pruned
        if pruned:
            log.info("tracking rows pruned", consumer=self.name, rows=pruned)
        return pruned

    def _handler_for(self, event_type: str) -> Handler | None:
        handler = self.handlers.get(event_type)
        if handler is None and self.batch_handler is not None:
            handler = self._single(self.batch_handler)
        return handler

    async def process(self, msg: IncomingMessage) -> Outcome:
        """Handle one message; never raises for a bad message."""
        outcome = await self._process_one(msg)
        self.outcomes[outcome] += 1
        return outcome

    async def _process_one(self, msg: IncomingMessage) -> Outcome:
        unhandled = self._unhandled(msg)
        if unhandled is not None:
            # Nothing to do, but it was delivered: noted now, written with the next write.
            self.delivery.remember(unhandled)
            self.monitor.beat()
            return Outcome.IGNORED
        read = self._read(msg)
        if len(read) == 3:
            envelope, reason, error = read
            return await self._dead_letter(msg, reason, error, 1, envelope)
        envelope, payload = read
        handler = self._handler_for(envelope.type)
        if handler is None:
            # `_unhandled` passed on headers it could not vouch for, but they decoded: still
            # nothing to do here.
            self.delivery.remember(self._received(msg, envelope))
            self.monitor.beat()
            return Outcome.IGNORED
        received = self._received(msg, envelope)
        attempt, last_error = 0, ""
        delay, waited = self.backoff, 0.0
        while attempt < self.max_attempts:
            try:
                outcome = await self._apply(
                    handler, envelope, payload, received, self._tracking(msg, envelope)
                )
                self.monitor.beat()
                return outcome
            except RejectedMessage as exc:
                return await self._dead_letter(msg, "rejected", str(exc), attempt + 1, envelope)
            except NotYetKnown as exc:
                if waited >= self.dependency_wait:
                    return await self._dead_letter(
                        msg, "not-yet-known", str(exc), attempt + 1, envelope
                    )
                if waited == 0:
                    self.waits += 1
                    log.info(
                        "waiting for what a message depends on",
                        consumer=self.name,
                        event_id=str(envelope.event_id),
                        reason=str(exc),
                    )
                self.monitor.beat()  # waiting on purpose, not stuck
                waited += delay
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception as exc:
                if is_transient(exc):
                    delay = await self._wait_for_database(exc, delay)
                    continue
                attempt += 1
                if attempt < self.max_attempts:
                    self.retries += 1
                last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "handler failed",
                    consumer=self.name,
                    attempt=attempt,
                    error=last_error,
                    event_id=str(envelope.event_id),
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        return await self._dead_letter(msg, "handler-failed", last_error, attempt, envelope)

    @staticmethod
    def _single(batch_handler: BatchHandler) -> Handler:
        async def handle(conn: Connection, envelope: EventEnvelope, payload: Any) -> None:
            await batch_handler(conn, [(envelope, payload)])

        return handle

    async def process_batch(self, msgs: Sequence[IncomingMessage]) -> list[Outcome]:
        """Handle many messages in one transaction (one commit, one fsync), in order.

        Bad messages are dead-lettered first. If the batch's transaction fails for any reason
        but the database being down, every message is handled again on its own, so one
        poison message is isolated (retried, then dead-lettered) and the rest still land."""
        outcomes: list[Outcome | None] = [None] * len(msgs)
        wanted: list[tuple[int, EventEnvelope, Any]] = []
        ignored: list[Received] = []
        for i, msg in enumerate(msgs):
            unhandled = self._unhandled(msg)
            if unhandled is not None:
                outcomes[i] = Outcome.IGNORED
                ignored += unhandled
                continue
            read = self._read(msg)
            if len(read) == 3:
                envelope, reason, error = read
                outcomes[i] = await self._dead_letter(msg, reason, error, 1, envelope)
                continue
            envelope, payload = read
            if self.batch_handler is None and envelope.type not in self.handlers:
                outcomes[i] = Outcome.IGNORED
                ignored += self._received(msg, envelope)
            else:
                wanted.append((i, envelope, payload))
        self.delivery.remember(ignored)
        if wanted:
            received = [r for i, _, _ in wanted for r in self._received(msgs[i], None)]
            traceparents = {i: header_map(msgs[i].headers).get("traceparent") for i, _, _ in wanted}
            delay = self.backoff
            while True:
                try:
                    tracking = [self._tracking(msgs[i], e) for i, e, _ in wanted]
                    applied = await self._apply_batch(wanted, received, tracking)
                    for i, outcome in applied.items():
                        outcomes[i] = outcome
                    for i, envelope, _ in wanted:
                        # One span per event, continuing the trace of the request behind it.
                        with continued_span(
                            f"process {msgs[i].topic}",
                            traceparents[i],
                            {
                                "messaging.system": "kafka",
                                "messaging.operation.type": "process",
                                "messaging.destination.name": msgs[i].topic,
                                "messaging.destination.partition.id": str(msgs[i].partition),
                                "messaging.kafka.offset": msgs[i].offset,
                                "messaging.message.id": str(envelope.event_id),
                                "csm.consumer": self.name,
                                "csm.event_type": envelope.type,
                            },
                        ):
                            log.info(
                                "event processed"
                                if outcomes[i] is Outcome.HANDLED
                                else "duplicate event ignored",
                                consumer=self.name,
                                event_type=envelope.type,
                                event_id=str(envelope.event_id),
                                key=envelope.key,
                                batch=len(wanted),
                            )
                    break
                except Exception as exc:
                    if is_transient(exc):
                        delay = await self._wait_for_database(exc, delay)
                        continue
                    log.warning(
                        "batch failed; handling its messages one by one",
                        consumer=self.name,
                        size=len(wanted),
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    for i, _, _ in wanted:
                        outcomes[i] = await self._process_one(msgs[i])
                    break
        elif ignored:
            await self._flush_quietly()
        self.monitor.beat()
        done = [o if o is not None else Outcome.IGNORED for o in outcomes]
        for outcome in done:
            self.outcomes[outcome] += 1
        return done

    async def _flush_quietly(self) -> None:
        # Positions of ignored messages: worth writing now, but never worth holding the
        # consumer up (they stay remembered, and a lost one is only a hole to fill later).
        try:
            await self.delivery.flush()
        except Exception as exc:
            log.warning("could not record delivered positions", consumer=self.name, error=str(exc))

    async def _apply_batch(
        self,
        wanted: list[tuple[int, EventEnvelope, Any]],
        received: Sequence[Received],
        tracking: Sequence[tracking_table.Tracked],
    ) -> dict[int, Outcome]:
        async with self.pool.acquire() as conn, conn.transaction():
            first_time = await tracking_table.first_times(conn, self.name, tracking)
            # Only the first copy of an event counts: a batch may hold a redelivery too.
            fresh: list[tuple[int, EventEnvelope, Any]] = []
            for i, envelope, payload in wanted:
                if envelope.event_id in first_time:
                    first_time.discard(envelope.event_id)
                    fresh.append((i, envelope, payload))
            handled = {i for i, _, _ in fresh}
            if self.batch_handler is not None:
                await self.batch_handler(conn, [(e, p) for _, e, p in fresh])
            else:
                for _, envelope, payload in fresh:
                    await self.handlers[envelope.type](conn, envelope, payload)
            await self.delivery.record(conn, received)
        return {i: Outcome.HANDLED if i in handled else Outcome.DUPLICATE for i, _, _ in wanted}

    async def _apply(
        self,
        handler: Handler,
        envelope: EventEnvelope,
        payload: Any,
        received: Sequence[Received],
        tracking: tracking_table.Tracked,
    ) -> Outcome:
        async with self.pool.acquire() as conn, conn.transaction():
            first_time = await tracking_table.first_time(conn, self.name, tracking)
            if first_time:
                await handler(conn, envelope, payload)
            await self.delivery.record(conn, received)
        if not first_time:
            log.info(
                "duplicate event ignored",
                consumer=self.name,
                event_id=str(envelope.event_id),
            )
            return Outcome.DUPLICATE
        log.info(
            "event processed",
            consumer=self.name,
            event_type=envelope.type,
            event_id=str(envelope.event_id),
            correlation_id=envelope.correlation_id,
        )
        return Outcome.HANDLED
