"""Registration's Kafka subscriptions.

`questionnaire.CycleOpened` (topic `Topics.QUESTIONNAIRE`, consumer group `registration`):
carry last cycle's active services into the new cycle, to be checked. The carry-forward runs
in the consumer's transaction, the one that records the message as processed, so a redelivered
message carries nothing twice (and the carry-forward is idempotent on its own as well: the
national-admin endpoint may have run first).
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.questionnaire import CycleOpened
from csm_kernel.database import Connection
from csm_kernel.handlers import HandlerTable
from csm_kernel.runtime import Runtime, subscribe_handlers
from csm_kernel.store import AppendContext
from csm_kernel.text import storable_handlers

from ..application.directory import carry_forward
from ..application.ports import Directory

GROUP = "registration"
#: The name `processed_messages` records this consumer's messages under.
CONSUMER = "registration.directory"
#: Who carry-forwards caused by an event are attributed to.
ACTOR = "service:registration"
#: Messages taken together. The consumer wants one event type of the busiest topic (every
#: save is on it): taken one at a time, each message it ignores costs a pass through the
#: broker client's middlewares, a span and an offset commit. In the national rehearsal
#: registration's replicas used 0.28 cores at ~10 saves/s, most of it in this consumer.
BATCH = 200


def handler_table(directory: Directory) -> HandlerTable:
    """What the consumer applies, by payload class."""
    table = HandlerTable()

    @table.on(CycleOpened)
    async def on_cycle_opened(
        conn: Connection, envelope: EventEnvelope, event: CycleOpened
    ) -> None:
        await carry_forward(
            directory.joined(conn),
            event.cycle,
            event.previous_cycle,
            AppendContext(
                actor=ACTOR,
                correlation_id=envelope.correlation_id,
                causation_id=str(envelope.event_id),
            ),
        )

    return table


def subscribe(runtime: Runtime, broker: KafkaBroker, directory: Directory) -> None:
    """Subscribe the consumer (event text as PostgreSQL can hold it)."""
    subscribe_handlers(
        runtime,
        broker,
        Topics.QUESTIONNAIRE,
        consumer=CONSUMER,
        group_id=GROUP,
        handlers=storable_handlers(handler_table(directory).handlers()),
        description="Carries last cycle's services forward when a new cycle opens.",
        batch=BATCH,
    )
