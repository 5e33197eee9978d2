"""Projection handlers: each applies one event to the read model on the consumer's connection
(inside the transaction that also records the event as processed)."""

from __future__ import annotations

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
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


HANDLERS = {OrganisationRegistered.EVENT_TYPE: organisation_registered}
