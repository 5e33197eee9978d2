"""The organisations projection applied to real PostgreSQL, event by event."""

from __future__ import annotations

from importlib import resources

import asyncpg

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.registration import OrganisationRenamed, PartnershipAreasChanged
from csm_contracts.registry import EventPayload
from csm_kernel.database import migrate
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from reporting.application.projections import HANDLERS


async def test_the_organisation_row_follows_its_events(pg_pool: asyncpg.Pool) -> None:
    await migrate(pg_pool, "reporting", resources.files("reporting.adapters").joinpath("sql"))
    store = InMemoryEventStore()
    events: list[EventPayload] = [
        OrganisationRegistered(organisation_id="5A4", code="5A4", name="Anytown PCT",
                               kind="pct", region="london", partnership_areas=["00AA"]),
        OrganisationRenamed(organisation_id="5A4", old_name="Anytown PCT",
                            new_name="Anytown Teaching PCT"),
        PartnershipAreasChanged(organisation_id="5A4", old_partnership_areas=["00AA"],
                                new_partnership_areas=["00AA", "00AB"]),
    ]  # fmt: skip
    stored = await store.append(
        "organisation-5A4", 0, [NewEvent.from_payload(e) for e in events], AppendContext("t")
    )
    for envelope, event in zip(stored, events, strict=True):
        async with pg_pool.acquire() as conn, conn.transaction():
            await HANDLERS[envelope.type](conn, envelope, event)
    row = await pg_pool.fetchrow("SELECT * FROM organisations WHERE organisation_id = '5A4'")
    assert row["name"] == "Anytown Teaching PCT"
    assert row["partnership_areas"] == ["00AA", "00AB"]
    assert row["applied_events"] == 3
    assert row["last_event_id"] == stored[-1].event_id
