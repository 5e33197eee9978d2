"""The questionnaire service's Kafka subscriptions.

Registration's events (topic `Topics.REGISTRATION`, consumer group `questionnaire`) keep a copy
of who is registered and which services are mapped in which cycle (`application.following`),
which is what decides the questionnaires each organisation owes; each is applied in the
transaction that records the message as processed. Handlers are keyed by payload class
(`HandlerTable`) and see names as PostgreSQL can hold them (`storable_handlers`: NUL replaced
by U+FFFD).
"""

from __future__ import annotations

from collections.abc import Callable

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
from csm_kernel.handlers import HandlerTable
from csm_kernel.runtime import Runtime, Subscriptions, subscribe_handlers
from csm_kernel.store import AppendContext
from csm_kernel.text import storable_handlers

from ..application.following import Following
from ..domain.owed import KnownService

GROUP = "questionnaire"
#: The name `processed_messages` records this consumer's messages under.
CONSUMER = "questionnaire.registration"
ACTOR = "service:questionnaire"
#: Events applied in one transaction at most. The national team registers thousands of
#: organisations and services in one import; one transaction (and commit) each, this consumer
#: took about 5 minutes over 5,000 organisations and their services on the 2-core machine.
BATCH = 200


def _context(envelope: EventEnvelope) -> AppendContext:
    return AppendContext(
        actor=ACTOR, correlation_id=envelope.correlation_id, causation_id=str(envelope.event_id)
    )


class RegistrationFollower:
    """Handlers for registration's events, one per payload class."""

    def __init__(self, following: Following) -> None:
        self.following = following

    async def organisation_registered(
        self, conn: Connection, envelope: EventEnvelope, event: OrganisationRegistered
    ) -> None:
        await self.following.organisation_registered(
            conn,
            event.code,
            event.name,
            event.kind.value,
            event.region.value,
            list(event.partnership_areas),
            _context(envelope),
        )

    async def organisation_renamed(
        self, conn: Connection, envelope: EventEnvelope, event: OrganisationRenamed
    ) -> None:
        await self.following.organisation_renamed(conn, event.organisation_id, event.new_name)

    async def areas_changed(
        self, conn: Connection, envelope: EventEnvelope, event: PartnershipAreasChanged
    ) -> None:
        await self.following.areas_changed(
            conn, event.organisation_id, list(event.new_partnership_areas)
        )

    async def service_mapped(
        self,
        conn: Connection,
        envelope: EventEnvelope,
        event: ServiceRegistered | ServiceCarriedForward,
    ) -> None:
        previous = (
            (str(event.previous_service_id), event.previous_cycle)
            if isinstance(event, ServiceCarriedForward)
            else (None, None)
        )
        service = KnownService(
            str(event.service_id),
            event.cycle,
            event.organisation_id,
            event.name,
            event.group_id,
            # Kept so the service's questionnaire can bring last year's answers in.
            previous_service_id=previous[0],
            previous_cycle=previous[1],
        )
        await self.following.service_mapped(conn, service, event.camhs, _context(envelope))

    async def service_revised(
        self, conn: Connection, envelope: EventEnvelope, event: ServiceRevised
    ) -> None:
        changes = [(change.field, change.new) for change in event.changes]
        await self.following.service_revised(conn, str(event.service_id), changes)

    async def service_withdrawn(
        self, conn: Connection, envelope: EventEnvelope, event: ServiceWithdrawn
    ) -> None:
        await self.following.service_withdrawn(
            conn,
            str(event.service_id),
            event.cycle,
            event.organisation_id,
            event.reason,
            _context(envelope),
            envelope.occurred_at,
        )

    def table(self) -> HandlerTable:
        table = HandlerTable()
        table.add(OrganisationRegistered, self.organisation_registered)
        table.add(OrganisationRenamed, self.organisation_renamed)
        table.add(PartnershipAreasChanged, self.areas_changed)
        table.add(ServiceRegistered, self.service_mapped)
        table.add(ServiceCarriedForward, self.service_mapped)
        table.add(ServiceRevised, self.service_revised)
        table.add(ServiceWithdrawn, self.service_withdrawn)
        return table

    def handlers(self) -> dict[str, Handler]:
        """What the consumer applies (names as PostgreSQL can hold them)."""
        return storable_handlers(self.table().handlers())


def subscriptions_for(follower_of: Callable[[Runtime], RegistrationFollower]) -> Subscriptions:
    """Subscriptions wired to the follower `follower_of(runtime)` builds."""

    def subscriptions(runtime: Runtime, broker: KafkaBroker) -> None:
        subscribe_handlers(
            runtime,
            broker,
            Topics.REGISTRATION,
            consumer=CONSUMER,
            group_id=GROUP,
            handlers=follower_of(runtime).handlers(),
            description="Follows registered organisations and mapped services: who owes what.",
            batch=BATCH,
        )

    return subscriptions
