"""The producer's side of healing a loss: republish what a consumer says it is missing.

Every process of a publishing service listens on `Topics.REPUBLISH_REQUESTS` (outside any
consumer group, from the end: an old request has been asked again since if it still matters);
the one whose relay leads publishes the requested ranges of its own store again, up to its
checkpoint (what lies beyond is on its way anyway). A lost request costs one delivery delay:
the consumer asks again.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from csm_contracts import Topics
from csm_contracts.control import RepublishRequest

from .health import LoopMonitor
from .kafka_offsets import positions_past_the_end
from .kafka_security import client_options
from .observability import get_logger
from .relay import OutboxRelay
from .topics_admin import ensure_topic

log = get_logger(__name__)


async def send_request(producer: AIOKafkaProducer, request: RepublishRequest) -> None:
    """Publish one republish request (keyed by the producer it is for)."""
    await producer.send_and_wait(
        Topics.REPUBLISH_REQUESTS,
        value=request.model_dump_json().encode(),
        key=request.source.encode(),
    )


def merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching (after, up_to] ranges as few ranges, in order."""
    merged: list[tuple[int, int]] = []
    for after, up_to in sorted(r for r in ranges if r[1] > r[0]):
        if merged and after <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], up_to))
        else:
            merged.append((after, up_to))
    return merged


class RepublishRequestListener:
    """Answers the republish requests addressed to one service (see the module's docstring)."""

    def __init__(
        self,
        relay: OutboxRelay,
        source: str,
        bootstrap: str,
        *,
        monitor: LoopMonitor | None = None,
    ) -> None:
        self.relay = relay
        self.source = source
        self.bootstrap = bootstrap
        self.monitor = monitor or LoopMonitor("republish-requests")
        #: Requests answered, and events published again for them, since the process started.
        self.answered = 0
        self.republished = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop`; a lost broker is retried with a growing pause."""
        consumer: AIOKafkaConsumer | None = None
        backoff = 0.5
        try:
            while not stop.is_set():
                try:
                    if consumer is None:
                        consumer = await self._connect()
                    batch = await consumer.getmany(timeout_ms=500)
                    requests = [r for records in batch.values() for r in _requests(records)]
                    mine = [r for r in requests if r.source == self.source]
                    if mine and self.relay.leading:
                        await self.answer(mine)
                    # The control topic can lose its history too: follow its new end.
                    for tp in await positions_past_the_end(consumer):
                        await consumer.seek_to_end(tp)
                    self.monitor.beat()
                    backoff = 0.5
                except Exception as exc:
                    self.monitor.failed(exc)
                    log.warning("republish requests unavailable; will retry", error=str(exc))
                    if consumer is not None:
                        with contextlib.suppress(Exception):
                            await consumer.stop()
                        consumer = None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def answer(self, requests: list[RepublishRequest]) -> int:
        """Publish the requested ranges again, up to the relay's checkpoint."""
        checkpoint = await self.relay.checkpoint()
        ranges = merge(
            [(r.after, min(r.up_to, checkpoint)) for request in requests for r in request.ranges]
        )
        published = 0
        for after, up_to in ranges:
            published += await self.relay.republish(after, up_to)
        self.answered += len(requests)
        self.republished += published
        log.info(
            "republished on request",
            source=self.source,
            consumers=sorted({r.consumer for r in requests}),
            ranges=ranges[:20],
            events=published,
        )
        return published

    async def _connect(self) -> AIOKafkaConsumer:
        await ensure_topic(self.bootstrap, Topics.REPUBLISH_REQUESTS)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, **client_options()
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(Topics.REPUBLISH_REQUESTS)
            if not partitions:
                await consumer.topics()  # a metadata refresh
                partitions = consumer.partitions_for_topic(Topics.REPUBLISH_REQUESTS)
            if not partitions:
                raise RuntimeError(f"topic {Topics.REPUBLISH_REQUESTS} has no partitions yet")
            tps = [TopicPartition(Topics.REPUBLISH_REQUESTS, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
        except BaseException:
            await consumer.stop()
            raise
        return consumer


def _requests(records: list[object]) -> list[RepublishRequest]:
    found = []
    for record in records:
        try:
            found.append(RepublishRequest.model_validate_json(getattr(record, "value", b"")))
        except (ValidationError, ValueError) as exc:
            log.warning("ignoring an unreadable republish request", error=str(exc)[:300])
    return found
