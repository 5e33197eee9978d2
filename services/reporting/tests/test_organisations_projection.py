"""The organisations projection: live in small batches, rebuilt, and as at a moment."""

from __future__ import annotations

from datetime import timedelta

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.registration import OrganisationRenamed, PartnershipAreasChanged


async def test_the_organisation_row_follows_its_events(reporting_db) -> None:
    h = reporting_db.history
    h.add(
        OrganisationRegistered(
            organisation_id="5A4",
            code="5A4",
            name="Anytown PCT",
            kind="pct",
            region="london",
            partnership_areas=["00AA"],
        )
    )
    renamed = h.add(
        OrganisationRenamed(
            organisation_id="5A4", old_name="Anytown PCT", new_name="Anytown Teaching PCT"
        )
    )
    h.add(
        PartnershipAreasChanged(
            organisation_id="5A4",
            old_partnership_areas=["00AA"],
            new_partnership_areas=["00AA", "00AB"],
        )
    )
    events = h.envelopes[:]
    assert await reporting_db.record() == 3
    # Redelivered: the journal already has them, nothing moves.
    assert await reporting_db.record(events) == 0
    row = await reporting_db.pool.fetchrow(
        "SELECT * FROM rm_organisations.organisations WHERE organisation_id = '5A4'"
    )
    assert row["name"] == "Anytown Teaching PCT"
    assert row["partnership_areas"] == ["00AA", "00AB"]
    assert row["applied_events"] == 3
    # As it stood just after the rename: the old areas.
    before = await reporting_db.report(
        "organisations", as_at=renamed.occurred_at + timedelta(seconds=1)
    )
    [org] = before.tables[0].rows
    assert org["name"] == "Anytown Teaching PCT" and org["partnership_areas"] == ["00AA"]


async def test_an_event_twice_in_one_batch_is_journaled_once(reporting_db) -> None:
    e = reporting_db.history.add(
        OrganisationRegistered(
            organisation_id="5B1", code="5B1", name="Twice PCT", kind="pct", region="london"
        )
    )
    assert await reporting_db.record([e, e]) == 1
    assert await reporting_db.pool.fetchval("SELECT count(*) FROM journal") == 1


def test_a_bulk_load_defers_only_plain_indexes() -> None:
    from reporting.adapters.projections import PROJECTIONS

    for p in PROJECTIONS:
        deferred = " ".join(p.indexes_ddl).upper()
        assert "UNIQUE" not in deferred and "PRIMARY KEY" not in deferred
        # Every table is still created up front, with the keys that upserts rely on.
        kept = " ".join(p.tables_ddl)
        assert all(
            f"CREATE TABLE {t} " in kept or f"CREATE TABLE {t}(" in kept for t in p.tables
        ), p.name
