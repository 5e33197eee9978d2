"""FastStream glue: a thin subscriber per consumer, and dead letters published through it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.message import StreamMessage

from csm_contracts import Topics

from .consumer import EventConsumer, IncomingMessage
from .kafka_security import broker_security
from .observability import get_logger

log = get_logger(__name__)


def make_broker(bootstrap: str, **options: Any) -> KafkaBroker:
    """A FastStream Kafka broker whose consumer spans continue the producer's trace."""
    return KafkaBroker(
        bootstrap,
        security=broker_security(),
        middlewares=[KafkaTelemetryMiddleware()],
        enable_idempotence=False,  # the embedded broker cannot give a producer id
        logger=logging.getLogger("csm.faststream"),
        # FastStream's "Received"/"Processed" lines say less than the consumer's own "event
        # processed" and were half of every service's log lines in the national rehearsal:
        # kept for DEBUG. Its errors are still logged at ERROR.
        log_level=logging.DEBUG,
        **options,
    )


class BrokerDeadLetters:
    """Dead letters published through a FastStream broker."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]
    ) -> None:
        """Publish one dead letter, with the original key, value and headers plus the reason."""
        await self.broker.publish(value or b"", topic=topic, key=key, headers=headers)


async def _raw_body(msg: StreamMessage[Any]) -> Any:
    # The consumer decodes and dead-letters bad bodies itself; FastStream must not fail first.
    return msg.body


def subscribe(
    broker: KafkaBroker,
    topic: str | Sequence[str],
    consumer: EventConsumer,
    *,
    group_id: str,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 3_000,
    description: str | None = None,
    batch: int | None = None,
) -> Any:
    """Feed every message of `topic` to `consumer`, committing offsets only after it is done.

    The group starts from the earliest offset, so a new consumer (or a rebuilt one) sees the
    whole history the broker holds. With `batch=N`, up to N messages fetched together are
    handled in one transaction (`EventConsumer.process_batch`): one commit for many events.
    Several topics share one subscription (one group member), so joining the group is one
    rebalance, not one per topic. Returns the FastStream subscriber (its `consumer` is the
    aiokafka consumer once started, for the watchdog).
    """
    topics = [topic] if isinstance(topic, str) else list(topic)
    common = {
        "title": f"{group_id}:{','.join(topics)}",
        "description": description or consumer.__doc__,
    }
    if batch is None:
        subscriber = broker.subscriber(
            *topics,
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max(300_000, session_timeout_ms),
            title=common["title"],
            description=common["description"],
        )

        @subscriber
        async def on_message(message: KafkaMessage) -> None:
            record = message.raw_message
            assert not isinstance(record, tuple)
            await consumer.process(_incoming(record))
            await _commit(message, consumer)

        return subscriber

    batch_subscriber = broker.subscriber(
        *topics,
        batch=True,
        max_records=batch,
        batch_timeout_ms=50,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_body,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
        max_poll_interval_ms=max(300_000, session_timeout_ms),
        title=common["title"],
        description=common["description"],
    )

    @batch_subscriber
    async def on_batch(message: KafkaMessage) -> None:
        records = message.raw_message
        batch_records = records if isinstance(records, tuple) else (records,)
        await consumer.process_batch([_incoming(r) for r in batch_records])
        await _commit(message, consumer)

    return batch_subscriber


#: How long committing an offset may take before the consumer moves on without it.
COMMIT_TIMEOUT_SECONDS = 5.0


async def _commit(message: KafkaMessage, consumer: EventConsumer) -> None:
    """Commit the message's offset, but never wait on it for long.

    aiokafka retries a retriable commit error for ever, and a broker that restarted empty
    answers every commit of a consumer that was in the group before with one
    (UNKNOWN_TOPIC_OR_PARTITION, seen with the embedded broker; a new consumer commits fine):
    the consumer would hang in `ack`. An offset left uncommitted only means a redelivery,
    which the tracking table makes harmless; `consumer.commit_failures` counts the failures in
    a row, and the watchdog starts a consumer that keeps failing afresh.
    """
    try:
        await asyncio.wait_for(message.ack(), COMMIT_TIMEOUT_SECONDS)
        consumer.commit_failures = 0
    except Exception as exc:  # TimeoutError included: carry on, the next commit covers it
        consumer.commit_failures += 1
        log.warning(
            "offset commit failed; carrying on",
            consumer=consumer.name,
            failures_in_a_row=consumer.commit_failures,
            error=f"{type(exc).__name__}: {exc}",
        )


def _incoming(record: Any) -> IncomingMessage:
    return IncomingMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
    )


def dead_letter_topic(group_id: str) -> str:
    """The dead-letter topic of a consumer group."""
    return Topics.dead_letter(group_id)
