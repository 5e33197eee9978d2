"""Registration's Kafka subscriptions (topic `Topics.QUESTIONNAIRE`, consumer group
`registration`). Each effect runs in the consumer's transaction, the one that records the
message as processed, so a redelivered message has no second effect.

- `questionnaire.CycleOpened`: carry last cycle's active services into the new cycle, to be
  checked (idempotent on its own as well: the national-admin endpoint may have run first).
- `questionnaire.CycleSignedOff` and `questionnaire.ReturnReopened`: registration's copy of
  which returns are signed off, so the directory refuses changes to a signed-off return's
  services until it is reopened. Both are on the return's stream, keyed by the organisation
  (one partition, in order); the copy applies an event only if its stream version is later
  than the last applied, so a repeat or a late older one changes nothing.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.cycles import ReturnReopened
from csm_contracts.events.questionnaire import CycleOpened, CycleSignedOff
from csm_kernel.database import Connection
from csm_kernel.handlers import HandlerTable
from csm_kernel.runtime import Runtime, subscribe_handlers
from csm_kernel.store import AppendContext
from csm_kernel.text import storable_handlers

from ..application.directory import carry_forward, record_reopening, record_sign_off
from ..application.ports import Directory

GROUP = "registration"
#: The name `processed_messages` records this consumer's messages under.
CONSUMER = "registration.directory"
#: Who carry-forwards caused by an event are attributed to.
ACTOR = "service:registration"
#: Messages taken together. The consumer wants three rare event types of the busiest topic
#: (every save is on it): taken one at a time, each message it ignores costs a pass through
#: the broker client's middlewares, a span and an offset commit. In the national rehearsal
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

    @table.on(CycleSignedOff)
    async def on_signed_off(
        conn: Connection, envelope: EventEnvelope, event: CycleSignedOff
    ) -> None:
        await record_sign_off(
            directory.joined(conn),
            event.cycle,
            event.organisation_id,
            event.signed_off_at,
            envelope.stream_version,
        )

    @table.on(ReturnReopened)
    async def on_reopened(conn: Connection, envelope: EventEnvelope, event: ReturnReopened) -> None:
        await record_reopening(
            directory.joined(conn), event.cycle, event.organisation_id, envelope.stream_version
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
        description="Carries last cycle's services forward when a new cycle opens; keeps "
        "which returns are signed off, so the directory refuses to change their services.",
        batch=BATCH,
    )
