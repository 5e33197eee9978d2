"""Projection handlers: each applies one event to the read model on the consumer's connection
(inside the transaction that also records the event as processed)."""

from __future__ import annotations

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.registration import OrganisationRenamed, PartnershipAreasChanged
from csm_kernel.consumer import Handler
from csm_kernel.database import Connection
from csm_kernel.observability import get_logger

log = get_logger(__name__)


async def organisation_registered(
    conn: Connection, envelope: EventEnvelope, event: OrganisationRegistered
) -> None:
    await conn.execute(
        """
        INSERT INTO organisations (organisation_id, code, name, kind, region, partnership_areas,
                                   registered_at, last_event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (organisation_id) DO UPDATE SET
            name = EXCLUDED.name, kind = EXCLUDED.kind, region = EXCLUDED.region,
            partnership_areas = EXCLUDED.partnership_areas,
            last_event_id = EXCLUDED.last_event_id,
            applied_events = organisations.applied_events + 1
        """,
        event.organisation_id,
        event.code,
        event.name,
        event.kind.value,
        event.region.value,
        event.partnership_areas,
        envelope.occurred_at,
        envelope.event_id,
    )
    log.info("organisation projected", organisation_id=event.organisation_id)


async def organisation_renamed(
    conn: Connection, envelope: EventEnvelope, event: OrganisationRenamed
) -> None:
    await conn.execute(
        "UPDATE organisations SET name = $2, last_event_id = $3, "
        "applied_events = applied_events + 1 WHERE organisation_id = $1",
        event.organisation_id, event.new_name, envelope.event_id,
    )  # fmt: skip


async def partnership_areas_changed(
    conn: Connection, envelope: EventEnvelope, event: PartnershipAreasChanged
) -> None:
    await conn.execute(
        "UPDATE organisations SET partnership_areas = $2, last_event_id = $3, "
        "applied_events = applied_events + 1 WHERE organisation_id = $1",
        event.organisation_id, event.new_partnership_areas, envelope.event_id,
    )  # fmt: skip


HANDLERS: dict[str, Handler] = {
    OrganisationRegistered.EVENT_TYPE: organisation_registered,
    OrganisationRenamed.EVENT_TYPE: organisation_renamed,
    PartnershipAreasChanged.EVENT_TYPE: partnership_areas_changed,
}
