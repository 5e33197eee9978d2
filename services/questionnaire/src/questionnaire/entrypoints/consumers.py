"""The questionnaire service's Kafka subscriptions.

Registration's events (topic `Topics.REGISTRATION`, consumer group `questionnaire`) keep a copy
of who is registered and which services are mapped in which cycle, which is what decides the
questionnaires each organisation owes. An organisation or a service that appears while a cycle
is open is issued what it owes in the same transaction that records the message as processed,
so a redelivery issues nothing twice; a withdrawn service's questionnaire is cancelled.
Handlers see names as PostgreSQL can hold them (`storable_handlers`: NUL replaced by U+FFFD).
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from csm_contracts import Topics
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.directory import (
    ServiceCarriedForward,
    ServiceRegistered,
    ServiceRevised,
    ServiceWithdrawn,
)
from csm_contracts.events.registration import (
    OrganisationRegistered,
    OrganisationRenamed,
    PartnershipAreasChanged,
)
from csm_kernel.consumer import Handler
from csm_kernel.database import Connection
from csm_kernel.runtime import Runtime, subscribe_handlers
from csm_kernel.store import AppendContext
from csm_kernel.text import storable_handlers

from ..adapters.questionnaires_pg import TAIL, PostgresQuestionnaires, current_from_row
from ..application.catalogue import DefinitionCatalogue
from ..application.cycles import Cycles
from ..domain import questionnaire as decide
from ..domain.definition import DefinitionKind
from ..domain.questionnaire import questionnaire_id

GROUP = "questionnaire"
#: The name `processed_messages` records this consumer's messages under.
CONSUMER = "questionnaire.registration"
ACTOR = "service:questionnaire"


def _context(envelope: EventEnvelope) -> AppendContext:
    return AppendContext(actor=ACTOR, correlation_id=envelope.correlation_id,
                         causation_id=str(envelope.event_id))  # fmt: skip


class RegistrationFollower:
    """Handlers for registration's events."""

    def __init__(
        self, cycles: Cycles, questionnaires: PostgresQuestionnaires, catalogue: DefinitionCatalogue
    ) -> None:
        self.cycles = cycles
        self.questionnaires = questionnaires
        self.catalogue = catalogue

    async def organisation_registered(
        self, conn: Connection, envelope: EventEnvelope, event: Any
    ) -> None:
        assert isinstance(event, OrganisationRegistered)
        await conn.execute(
            "INSERT INTO known_organisations (code, name, kind, region, partnership_areas) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, "
            "kind = EXCLUDED.kind, region = EXCLUDED.region, "
            "partnership_areas = EXCLUDED.partnership_areas",
            event.code, event.name, event.kind.value, event.region.value,
            list(event.partnership_areas),
        )  # fmt: skip
        for cycle in await self.cycles.open_cycles(conn):
            await self.cycles.issue_owed(
                cycle, organisation_id=event.code, conn=conn, context=_context(envelope)
            )

    async def organisation_renamed(
        self, conn: Connection, envelope: EventEnvelope, event: Any
    ) -> None:
        assert isinstance(event, OrganisationRenamed)
        await conn.execute(
            "UPDATE known_organisations SET name = $2 WHERE code = $1",
            event.organisation_id,
            event.new_name,
        )

    async def areas_changed(self, conn: Connection, envelope: EventEnvelope, event: Any) -> None:
        assert isinstance(event, PartnershipAreasChanged)
        await conn.execute(
            "UPDATE known_organisations SET partnership_areas = $2 WHERE code = $1",
            event.organisation_id,
            list(event.new_partnership_areas),
        )

    async def service_mapped(self, conn: Connection, envelope: EventEnvelope, event: Any) -> None:
        assert isinstance(event, ServiceRegistered | ServiceCarriedForward)
        await conn.execute(
            "INSERT INTO known_services (service_id, cycle, organisation_id, group_id, name, "
            "camhs) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (service_id) DO UPDATE SET "
            "group_id = EXCLUDED.group_id, name = EXCLUDED.name, camhs = EXCLUDED.camhs",
            str(event.service_id), event.cycle, event.organisation_id, event.group_id,
            event.name, event.camhs,
        )  # fmt: skip
        if event.cycle in await self.cycles.open_cycles(conn):
            await self.cycles.issue_owed(
                event.cycle, service_id=str(event.service_id), conn=conn,
                context=_context(envelope),
            )  # fmt: skip

    async def service_revised(self, conn: Connection, envelope: EventEnvelope, event: Any) -> None:
        assert isinstance(event, ServiceRevised)
        columns = {"name": "name", "group_id": "group_id", "camhs": "camhs"}
        for change in event.changes:
            column = columns.get(change.field)
            if column is not None:
                await conn.execute(
                    f"UPDATE known_services SET {column} = $2 WHERE service_id = $1",
                    str(event.service_id),
                    change.new,
                )

    async def service_withdrawn(
        self, conn: Connection, envelope: EventEnvelope, event: Any
    ) -> None:
        assert isinstance(event, ServiceWithdrawn)
        await conn.execute(
            "UPDATE known_services SET withdrawn = true WHERE service_id = $1",
            str(event.service_id),
        )
        definition = self.catalogue.latest(DefinitionKind.SERVICE)
        qid = questionnaire_id(event.cycle, event.organisation_id, definition.id,
                               str(event.service_id))  # fmt: skip
        row = await conn.fetchrow(f"SELECT q.*, {TAIL} FROM questionnaires q WHERE q.id = $1", qid)
        if row is None:
            return
        q = current_from_row(row)
        events = decide.cancel(q, f"the service was withdrawn: {event.reason}")
        if events:
            await self.questionnaires.save(
                q, events, _context(envelope), envelope.occurred_at, conn=conn
            )

    def handlers(self) -> dict[str, Handler]:
        """What the consumer applies (names as PostgreSQL can hold them)."""
        return storable_handlers(
            {
                OrganisationRegistered.EVENT_TYPE: self.organisation_registered,
                OrganisationRenamed.EVENT_TYPE: self.organisation_renamed,
                PartnershipAreasChanged.EVENT_TYPE: self.areas_changed,
                ServiceRegistered.EVENT_TYPE: self.service_mapped,
                ServiceCarriedForward.EVENT_TYPE: self.service_mapped,
                ServiceRevised.EVENT_TYPE: self.service_revised,
                ServiceWithdrawn.EVENT_TYPE: self.service_withdrawn,
            }
        )


def subscriptions_for(follower_of: Any) -> Any:
    """Subscriptions wired to the follower `follower_of(runtime)` builds."""

    def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
        follower: RegistrationFollower = follower_of(runtime)
        subscribe_handlers(
            runtime,
            broker,
            Topics.REGISTRATION,
            consumer=CONSUMER,
            group_id=GROUP,
            handlers=follower.handlers(),
            description="Follows registered organisations and mapped services: who owes what.",
        )

    return subscriptions
