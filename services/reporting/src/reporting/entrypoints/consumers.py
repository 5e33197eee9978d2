"""The reporting service's Kafka subscriptions: every event of every service, into the journal.

One transaction per fetched batch records the events (and their tracking rows); projectors
then read the journal. An event that cannot be read goes to `csm.dlq.reporting`.

Every event type is journalled alike, so this is one typed batch handler for all of them
rather than a `HandlerTable` of handlers by payload class."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from csm_kernel.runtime import Runtime

from ..application.journalling import SOURCES, Journalling

GROUP = "reporting"
CONSUMER = "reporting.journal"
#: Events per transaction at most: enough to keep up with bursts, small enough to stay fresh.
BATCH = 500


def subscriptions(runtime: Runtime, broker: KafkaBroker, journalling: Journalling) -> None:
    # One subscription over the three topics: one group member, so one rebalance on start.
    runtime.subscribe(
        broker,
        SOURCES,
        runtime.event_consumer(CONSUMER, group_id=GROUP, batch_handler=journalling.record),
        group_id=GROUP,
        description="Journals every event of every service for the projections.",
        batch=BATCH,
    )
