"""The reporting service's Kafka subscriptions: every event of every service, into the journal.

One transaction per fetched batch records the events (and their tracking rows); projectors
then read the journal. An event that cannot be read goes to `csm.dlq.reporting`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_contracts.envelope import EventEnvelope
from csm_kernel.database import Connection
from csm_kernel.runtime import Runtime

from ..adapters import journal

GROUP = "reporting"
CONSUMER = "reporting.journal"
#: Events per transaction at most: enough to keep up with bursts, small enough to stay fresh.
BATCH = 500
SOURCES = (Topics.REGISTRATION, Topics.QUESTIONNAIRE, Topics.NOTIFICATION)


async def record(conn: Connection, events: Sequence[tuple[EventEnvelope, Any]]) -> None:
    await journal.record(conn, [envelope for envelope, _ in events])


def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
    # One subscription over the three topics: one group member, so one rebalance on start.
    runtime.subscribe(
        broker,
        SOURCES,
        runtime.event_consumer(CONSUMER, group_id=GROUP, batch_handler=record),
        group_id=GROUP,
        description="Journals every event of every service for the projections.",
        batch=BATCH,
    )
