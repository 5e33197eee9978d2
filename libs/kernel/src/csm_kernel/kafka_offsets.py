"""Where a partition really ends, and whether a consumer stands past that end.

A broker can lose what it acknowledged (the embedded broker restarts empty; a real Kafka can
lose a partition's tail in an unclean leader election). Both the relay and the consumers check
for it, by comparing offsets they know were valid with the partition's high watermark.

The high watermark is read from fetch responses, never from ListOffsets: the embedded broker
(Tansu) answers ListOffsets with the base offset of the partition's last record batch plus one,
which is below the true end whenever a batch held several records (measured: 8 for a partition
holding 14 records), so ListOffsets would report losses that never happened.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from .kafka_security import client_options


def probe_consumer(bootstrap: str) -> AIOKafkaConsumer:
    """A consumer outside any group, for reading high watermarks (start it before use)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="none",  # past the end: an error to report, not a silent reset
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=1024,
        **client_options(),
    )


async def high_watermarks(
    probe: AIOKafkaConsumer, expected: dict[TopicPartition, int], *, within: float = 3.0
) -> dict[TopicPartition, int | None]:
    """The high watermark of each partition, read by fetching at the offset before the one
    `expected` says comes next (0 for a partition found to end before that offset; None when
    the broker did not answer for it in time, which proves nothing either way)."""
    if not expected:
        return {}
    probe.assign(list(expected))
    for tp, next_offset in expected.items():
        probe.seek(tp, max(next_offset - 1, 0))
    ends: dict[TopicPartition, int | None] = dict.fromkeys(expected)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        try:
            await probe.getmany(timeout_ms=200, max_records=len(expected))
        except OffsetOutOfRangeError as exc:
            for tp in exc.args[0] if exc.args and isinstance(exc.args[0], dict) else expected:
                ends[tp] = 0
                with contextlib.suppress(Exception):
                    probe.seek(tp, 0)
        for tp in expected:
            if ends[tp] is None:
                ends[tp] = probe.highwater(tp)
        if all(end is not None for end in ends.values()):
            break
    return ends


async def positions_past_the_end(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """Assigned partitions whose next offset to fetch lies beyond the end the broker last
    reported: the partition lost messages this consumer had already read (and the broker, if
    it is the embedded one, would otherwise answer with nothing, for ever)."""
    past: list[TopicPartition] = []
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is None:
            continue
        position: int | None = None
        with contextlib.suppress(Exception):  # being reassigned or reset: look again next time
            position = await asyncio.wait_for(consumer.position(tp), 1)
        if position is not None and position > end:
            past.append(tp)
    return past
