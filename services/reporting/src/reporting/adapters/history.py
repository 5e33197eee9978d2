"""Where a lost journal's history is read back from (`application.ports.HistorySources`): the
broker's topics from offset 0, or the services' own event stores."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from csm_contracts.cloudevents import UndecodableMessage, decode
from csm_contracts.envelope import EventEnvelope
from csm_kernel.kafka_security import client_options

from ..application.ports import HistoryBatch

#: Messages or events read per batch.
CHUNK = 5_000


def asyncpg_json(value: object) -> object:
    """A json/jsonb value as asyncpg hands it over (text, unless a codec decoded it)."""
    return json.loads(value) if isinstance(value, str) else value


class HistoryReaders:
    """Reads history in batches of up to `chunk` events."""

    def __init__(self, chunk: int = CHUNK) -> None:
        self.chunk = chunk

    async def broker(self, bootstrap: str, topics: Sequence[str]) -> AsyncIterator[HistoryBatch]:
        """Every message of `topics`, from offset 0 to their ends when reading began (logged in
        as every Kafka client of the service is: `csm_kernel.kafka_security.client_options`)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options()
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or {0})
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            total = sum(ends.values())
            seen = 0
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(timeout_ms=1000, max_records=self.chunk)
                envelopes: list[EventEnvelope] = []
                skipped: list[str] = []
                for records in batches.values():
                    for record in records:
                        seen += 1
                        try:
                            envelopes.append(decode(record.headers, record.value))
                        except UndecodableMessage as exc:
                            skipped.append(str(exc))
                yield HistoryBatch(envelopes, seen, total, skipped)
        finally:
            await consumer.stop()

    async def store(self, url: str) -> AsyncIterator[HistoryBatch]:
        """Every event of the event store at `url`, in position order."""
        source = await asyncpg.connect(url)
        try:
            total = int(await source.fetchval("SELECT count(*) FROM events"))
            position, seen = 0, 0
            while True:
                rows = await source.fetch(
                    "SELECT * FROM events WHERE position > $1 ORDER BY position LIMIT $2",
                    position,
                    self.chunk,
                )
                if not rows:
                    break
                envelopes = [
                    EventEnvelope.model_validate(
                        {**dict(r), "data": asyncpg_json(r["data"]), "position": r["position"]}
                    )
                    for r in rows
                ]
                position, seen = rows[-1]["position"], seen + len(rows)
                yield HistoryBatch(envelopes, seen, total)
        finally:
            await source.close()
