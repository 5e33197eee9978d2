"""The directory projection and the directory report: fields, status, check, what changed,
search and filters, for the current and a past cycle."""

from __future__ import annotations

import json

import pytest

from csm_contracts.events.directory import ServiceRevised
from csm_kernel.errors import InvalidInput, NotFound
from progress_history import CYCLE, LAST_CYCLE, at, directory_history, snapshot
from reporting.adapters.projections.directory import PROJECTION


async def _service(db, service_id: str) -> dict:
    row = await db.pool.fetchrow(
        "SELECT * FROM rm_directory.dir_services WHERE service_id = $1", service_id
    )
    return dict(row)


async def test_each_record_follows_its_events(reporting_db) -> None:
    ids = directory_history(reporting_db.history)
    await reporting_db.record()

    old = await _service(reporting_db, ids["old2"])
    assert old["cycle"] == LAST_CYCLE and old["status"] == "registered"
    assert old["origin"] == "registered" and old["checked_at"] == old["registered_at"]

    confirmed = await _service(reporting_db, ids["c1"])
    assert confirmed["status"] == "confirmed" and confirmed["checked_at"] == at(11, 10)
    assert confirmed["previous_service_id"] == ids["old1"]
    assert confirmed["previous_cycle"] == LAST_CYCLE

    revised = await _service(reporting_db, ids["c2"])
    assert revised["status"] == "revised" and revised["revisions"] == 2
    assert revised["name"] == "Health visiting team"
    assert revised["age_max"] == 7 and revised["age_min"] == 0  # the later revision wins
    assert revised["needs"] == ["disabled children", "young carers"]
    assert revised["contact_phone"] is None  # a revision may clear a field
    assert revised["checked_at"] == at(11, 11) and revised["last_revised_at"] == at(11, 12)
    changes = json.loads(revised["changes"])
    assert [c["field"] for c in changes] == [
        "name",
        "client_group.age_max",
        "contact.phone",
        "status",
        "client_group.needs",
        "client_group.age_max",
    ]
    assert changes[1] == {
        "field": "client_group.age_max",
        "old": 18,
        "new": 5,
        "at": "2009-11-11T12:00:00+00:00",
    }

    unchecked = await _service(reporting_db, ids["c3"])
    assert unchecked["status"] == "carried-forward-unchecked"
    assert unchecked["checked_at"] is None

    withdrawn = await _service(reporting_db, ids["new1"])
    assert withdrawn["status"] == "withdrawn" and withdrawn["withdrawn_at"] == at(12, 1)
    assert withdrawn["withdrawn_reason"] == "merged into the trust's service"
    assert withdrawn["camhs"] is True and withdrawn["camhs_tier"] == 3
    assert withdrawn["commissioner_ids"] == ["5A4", "00AA"]
    assert withdrawn["applied_events"] == 2


async def test_revisions_in_one_range_or_apart_and_rebuilt_agree(reporting_db) -> None:
    h = reporting_db.history
    ids = directory_history(h)
    # A third revision of c2 right after the others, and a first one of the carried c3.
    h.add(
        ServiceRevised(
            organisation_id="5A4",
            service_id=ids["c2"],
            cycle=CYCLE,
            changes=[
                {"field": "client_group.age_max", "old": 7, "new": 9},
                {"field": "group_id", "old": "g1", "new": None},
            ],
        ),
        at=at(11, 13),
    )
    h.add(
        ServiceRevised(
            organisation_id="5A4",
            service_id=ids["c3"],
            cycle=CYCLE,
            changes=[
                {
                    "field": "description",
                    "old": "x",
                    "new": "Counselling for young people aged 11-19",
                },
                {"field": "status", "old": "to-be-checked", "new": "active"},
            ],
        ),
        at=at(11, 14),
    )
    events = list(h.envelopes)
    for envelope in events:  # one event per range
        await reporting_db.record([envelope])
    apart = await snapshot(reporting_db.pool, "rm_directory", PROJECTION.tables)
    await reporting_db.projector.rebuild(PROJECTION)  # one range
    assert await snapshot(reporting_db.pool, "rm_directory", PROJECTION.tables) == apart
    c2 = await _service(reporting_db, ids["c2"])
    assert c2["age_max"] == 9 and c2["group_id"] is None and c2["revisions"] == 3
    c3 = await _service(reporting_db, ids["c3"])
    assert c3["status"] == "revised" and c3["checked_at"] == at(11, 14)
    h.take()


async def test_the_directory_report_searches_and_filters(reporting_db) -> None:
    ids = directory_history(reporting_db.history)
    await reporting_db.record()

    everything = await reporting_db.report("directory", cycle=CYCLE)
    names = [r["name"] for r in everything.tables[0].rows]
    assert sorted(names) == ["Health visiting team", "Speech therapy", "Youth counselling"]
    assert everything.summary == {
        "services": 3,
        "new_this_cycle": 0,
        "carried_forward": 3,
        "unchecked": 1,
        "withdrawn_in_cycle": 1,
    }

    # Stemmed full-text search over names and descriptions.
    [hv] = (await reporting_db.report("directory", cycle=CYCLE, search="visits")).tables[0].rows
    assert hv["service_id"] == ids["c2"] and hv["provider_name"] == "Anytown PCT"
    assert hv["changed_since_last_year"] == [
        "name",
        "client_group.age_max",
        "client_group.needs",
        "contact.phone",
    ]
    assert hv["revised_fields"] == [
        "client_group.age_max",
        "client_group.needs",
        "contact.phone",
        "name",
    ]
    assert hv["carried_from_cycle"] == LAST_CYCLE and hv["checked"] is True
    # Part of a name.
    [yc] = (await reporting_db.report("directory", cycle=CYCLE, search="counsel")).tables[0].rows
    assert yc["status"] == "carried-forward-unchecked" and yc["checked"] is False
    assert yc["changed_since_last_year"] == []

    # By commissioner or provider, and by the provider's region.
    by_org = await reporting_db.report("directory", cycle=CYCLE, organisation="5A4")
    assert len(by_org.tables[0].rows) == 3
    none = await reporting_db.report("directory", cycle=CYCLE, region="north-east")
    assert none.tables[0].rows == []

    # A past cycle: last year's records, new then.
    past = await reporting_db.report("directory", cycle=LAST_CYCLE, search="speech")
    [speech] = past.tables[0].rows
    assert speech["service_id"] == ids["old1"] and speech["changed_since_last_year"] is None


async def test_unknown_cycle_organisation_or_region(reporting_db) -> None:
    directory_history(reporting_db.history)
    await reporting_db.record()
    with pytest.raises(NotFound, match="no cycle 2001-02"):
        await reporting_db.report("directory", cycle="2001-02")
    with pytest.raises(NotFound, match="no organisation ZZZ"):
        await reporting_db.report("directory", cycle=CYCLE, organisation="ZZZ")
    with pytest.raises(InvalidInput, match="region"):
        await reporting_db.report("directory", cycle=CYCLE, region="atlantis")
