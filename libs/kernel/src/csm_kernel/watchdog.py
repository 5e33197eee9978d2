"""The consumers' watchdog: every few seconds, for every subscription of a service,

- a partition whose end now lies before the consumer's position lost messages the consumer had
  read (a broker restarted empty, or a truncated partition): read it again from the beginning
  (what was already handled is skipped by the tracking table);
- a consumer whose offset commits keep failing (the embedded broker refuses every commit of a
  group member from before its restart) is stopped and started afresh;
- the positions of ignored messages are written (`csm_kernel.delivery`), and tracking rows
  older than the de-duplication window are pruned (`csm_kernel.tracking`);
- while this process's partitions are caught up, positions still missing past the delivery
  delay are asked for again from their producer (`RepublishRequest`);
- the consumer's monitor learns that it is caught up, so a consumer that falls behind and stops
  making progress (it cannot join its group, it hangs) shows up as unhealthy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from csm_contracts.control import RepublishRequest

from .consumer import EventConsumer
from .health import LoopMonitor
from .kafka_offsets import positions_past_the_end
from .observability import get_logger

log = get_logger(__name__)

#: Failed offset commits in a row after which a consumer is started afresh.
COMMIT_FAILURES_BEFORE_RESTART = 2

RequestPublisher = Callable[[RepublishRequest], Awaitable[None]]
"""Sends a republish request to the producers."""


@dataclass
class Subscription:
    """One FastStream subscriber and the consumer that handles its messages."""

    subscriber: Any
    consumer: EventConsumer
    #: Times a partition was found shorter than what this consumer had read.
    rewinds: int = 0
    #: Times the consumer was started afresh because it could not commit.
    restarts: int = 0
    #: Messages not yet fetched, by "topic[partition]", as last measured.
    lag: dict[str, int] = field(default_factory=dict)

    def kafka_consumer(self) -> AIOKafkaConsumer | None:
        """The subscriber's aiokafka consumer, once it has started."""
        consumer: AIOKafkaConsumer | None = getattr(self.subscriber, "consumer", None)
        return consumer


class ConsumerWatchdog:
    """Looks after every subscription of one service (see the module's docstring)."""

    def __init__(
        self,
        subscriptions: list[Subscription],
        publish: RequestPublisher,
        *,
        interval: float = 2.0,
        monitor: LoopMonitor | None = None,
    ) -> None:
        self.subscriptions = subscriptions
        self.publish = publish
        self.interval = interval
        self.monitor = monitor or LoopMonitor("consumer-watchdog")
        self.requests_sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Check every `interval` seconds until `stop`; a failed check is tried again."""
        while not stop.is_set():
            try:
                await self.check()
                self.monitor.beat()
            except Exception as exc:
                self.monitor.failed(exc)
                log.warning("consumer watchdog check failed; will retry", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def check(self) -> None:
        """One pass over every subscription."""
        for subscription in self.subscriptions:
            await self._check(subscription)

    async def _check(self, subscription: Subscription) -> None:
        consumer = subscription.consumer
        if consumer.commit_failures >= COMMIT_FAILURES_BEFORE_RESTART:
            await self._restart(subscription)
        kafka = subscription.kafka_consumer()
        caught_up = False
        if kafka is not None and kafka.assignment():
            for tp in await positions_past_the_end(kafka):
                subscription.rewinds += 1
                log.warning(
                    "partition lost messages this consumer had read; reading it from the start",
                    consumer=consumer.name,
                    topic=tp.topic,
                    partition=tp.partition,
                    end=kafka.highwater(tp),
                )
                await kafka.seek_to_beginning(tp)
            subscription.lag = await _lag(kafka)
            caught_up = all(n == 0 for n in subscription.lag.values())
        await consumer.delivery.flush()
        await consumer.prune_tracking()
        if caught_up:
            consumer.monitor.beat()
            lost = await consumer.delivery.losses()
            for request in consumer.delivery.requests(lost, datetime.now(UTC)):
                await self.publish(request)
                self.requests_sent += 1

    async def _restart(self, subscription: Subscription) -> None:
        consumer = subscription.consumer
        log.warning(
            "consumer cannot commit its offsets; starting it afresh",
            consumer=consumer.name,
            failures_in_a_row=consumer.commit_failures,
        )
        subscription.restarts += 1
        consumer.commit_failures = 0
        with contextlib.suppress(Exception):
            await asyncio.wait_for(subscription.subscriber.stop(), 15)
        await asyncio.wait_for(subscription.subscriber.start(), 30)


async def _lag(kafka: AIOKafkaConsumer) -> dict[str, int]:
    """Messages not yet fetched per assigned partition (-1 where it is not known yet)."""
    lag: dict[str, int] = {}
    for tp in kafka.assignment():
        end = kafka.highwater(tp)
        position: int | None = None
        with contextlib.suppress(Exception):  # being reassigned or reset: not known yet
            position = await asyncio.wait_for(kafka.position(tp), 1)
        lag[f"{tp.topic}[{tp.partition}]"] = (
            -1 if end is None or position is None else max(end - position, 0)
        )
    return lag
