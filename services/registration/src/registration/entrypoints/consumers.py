"""Registration's Kafka subscriptions.

`questionnaire.CycleOpened` (topic `Topics.QUESTIONNAIRE`, consumer group `registration`):
carry last cycle's active services into the new cycle, to be checked. The carry-forward runs
in the consumer's transaction, the one that records the message as processed, so a redelivered
message carries nothing twice (and the carry-forward is idempotent on its own as well: the
national-admin endpoint may have run first).
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.questionnaire import CycleOpened
from csm_kernel.consumer import Handler
from csm_kernel.database import Connection
from csm_kernel.runtime import Runtime, subscribe_handlers
from csm_kernel.store import AppendContext
from csm_kernel.store.postgres import PostgresEventStore
from csm_kernel.text import storable_handlers

from ..adapters.directory_pg import PostgresDirectory
from ..application.directory import carry_forward

GROUP = "registration"
#: The name `processed_messages` records this consumer's messages under.
CONSUMER = "registration.directory"
#: Who carry-forwards caused by an event are attributed to.
ACTOR = "service:registration"


def cycle_opened_handler(directory: PostgresDirectory) -> Any:
    async def on_cycle_opened(conn: Connection, envelope: EventEnvelope, event: Any) -> None:
        assert isinstance(event, CycleOpened)
        await carry_forward(
            directory.bound(conn),
            event.cycle,
            event.previous_cycle,
            AppendContext(
                actor=ACTOR,
                correlation_id=envelope.correlation_id,
                causation_id=str(envelope.event_id),
            ),
        )

    return on_cycle_opened


def handlers_for(directory: PostgresDirectory) -> dict[str, Handler]:
    """What the consumer applies (event text as PostgreSQL can hold it)."""
    return storable_handlers({CycleOpened.EVENT_TYPE: cycle_opened_handler(directory)})


def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
    store = runtime.require_store()
    assert isinstance(store, PostgresEventStore)
    directory = PostgresDirectory(store, runtime.require_pool())
    subscribe_handlers(
        runtime,
        broker,
        Topics.QUESTIONNAIRE,
        consumer=CONSUMER,
        group_id=GROUP,
        handlers=handlers_for(directory),
        description="Carries last cycle's services forward when a new cycle opens.",
    )
