"""Directory use cases on the in-memory event store: who may do what, optimistic concurrency,
unknown organisations and carry-forward (bulk import: test_service_import.py)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.directory import ServiceStatus, ServiceType
from csm_kernel.errors import ConcurrencyConflict, Forbidden, InvalidInput, NotFound
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from registration.adapters.directory_memory import InMemoryDirectory
from registration.application import directory as uc
from registration.application.directory import DirectoryQuery, Scope
from registration.domain.service_record import ServiceDetails, carried_forward_id

CTX = AppendContext(actor="user:test")
ADMIN = Scope(everything=True, can_write=True)
AUDITOR = Scope(everything=True, can_write=False)


def lead(org: str) -> Scope:
    return Scope(can_write=True, organisation_id=org)


def owner(org: str, group: str) -> Scope:
    return Scope(can_write=True, organisation_id=org, group_id=group)


def details(**overrides: Any) -> ServiceDetails:
    base = ServiceDetails(
        name="School nursing",
        description="Health checks and advice in schools.",
        service_type=ServiceType.UNIVERSAL,
        age_min=5,
        age_max=16,
        provider_id="5A4",
        commissioner_ids=("00BR",),
        contact_name="Sam Lee",
        contact_email="sam.lee@example.nhs.uk",
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
async def directory() -> InMemoryDirectory:
    store = InMemoryEventStore()
    for code, areas in {"5A4": ["LA1"], "00BR": ["LA1", "LA2"], "RX1": ["LA9"]}.items():
        event = OrganisationRegistered(
            organisation_id=code,
            code=code,
            name=f"Org {code}",
            kind="pct",
            region="london",
            partnership_areas=areas,
        )
        await store.append(f"organisation-{code}", 0, [NewEvent.from_payload(event)], CTX)
    directory = InMemoryDirectory(store)
    # Service groups the accounts feature would have defined.
    directory.groups = {"north": "5A4", "south": "5A4", "east": "RX1"}
    return directory


async def test_register_appends_the_event_and_fills_the_read_model(
    directory: InMemoryDirectory,
) -> None:
    record = await uc.register_service(directory, lead("5A4"), "2009-10", details(), CTX)

    (stored,) = await directory.store.read_stream(f"service-{record.service_id}")
    assert stored.type == "registration.ServiceRegistered"
    assert stored.key == "5A4"
    assert stored.actor == "user:test"
    assert directory.rows[record.service_id].areas == ("LA1",)
    assert (await uc.get_service(directory, lead("5A4"), record.service_id)).version == 1


async def test_a_commissioner_lead_may_register_and_see_the_service(
    directory: InMemoryDirectory,
) -> None:
    record = await uc.register_service(directory, lead("00BR"), "2009-10", details(), CTX)
    assert (await uc.get_service(directory, lead("00BR"), record.service_id)).exists


async def test_a_lead_of_another_organisation_cannot_register_or_see_it(
    directory: InMemoryDirectory,
) -> None:
    with pytest.raises(Forbidden):
        await uc.register_service(directory, lead("RX1"), "2009-10", details(), CTX)
    record = await uc.register_service(directory, ADMIN, "2009-10", details(), CTX)
    with pytest.raises(NotFound):
        await uc.get_service(directory, lead("RX1"), record.service_id)
    with pytest.raises(NotFound):
        await uc.service_history(directory, lead("RX1"), record.service_id)
    assert (await uc.search(directory, lead("RX1"), DirectoryQuery())).total == 0


async def test_an_auditor_reads_everything_and_writes_nothing(
    directory: InMemoryDirectory,
) -> None:
    record = await uc.register_service(directory, ADMIN, "2009-10", details(), CTX)
    assert (await uc.get_service(directory, AUDITOR, record.service_id)).exists
    with pytest.raises(Forbidden):
        await uc.register_service(directory, AUDITOR, "2009-10", details(), CTX)
    with pytest.raises(Forbidden):
        await uc.withdraw_service(directory, AUDITOR, record.service_id, 1, "no", CTX)


async def test_a_group_owner_acts_only_within_their_group(directory: InMemoryDirectory) -> None:
    mine = await uc.register_service(
        directory, owner("5A4", "north"), "2009-10", details(group_id="north"), CTX
    )
    with pytest.raises(Forbidden):
        await uc.register_service(
            directory, owner("5A4", "north"), "2009-10", details(group_id="south"), CTX
        )
    theirs = await uc.register_service(
        directory, lead("5A4"), "2009-10", details(group_id="south"), CTX
    )
    with pytest.raises(NotFound):
        await uc.get_service(directory, owner("5A4", "north"), theirs.service_id)
    # Nor may they move their own record out of their group.
    with pytest.raises(Forbidden):
        await uc.revise_service(
            directory, owner("5A4", "north"), mine.service_id, 1, {"group_id": "south"}, CTX
        )
    page = await uc.search(directory, owner("5A4", "north"), DirectoryQuery())
    assert [s.service_id for s in page.items] == [mine.service_id]


async def test_unknown_organisations_are_422_naming_the_field(
    directory: InMemoryDirectory,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await uc.register_service(
            directory,
            ADMIN,
            "2009-10",
            details(provider_id="ZZZ9", commissioner_ids=("00BR", "QQQ1")),
            CTX,
        )
    assert [d["field"] for d in caught.value.details] == ["provider_id", "commissioner_ids.1"]
    assert "ZZZ9" in caught.value.details[0]["reason"]
    assert await directory.store.max_position() == 3  # the three organisations only


async def test_a_stale_version_is_refused_and_nothing_is_lost(
    directory: InMemoryDirectory,
) -> None:
    record = await uc.register_service(directory, lead("5A4"), "2009-10", details(), CTX)
    sid = record.service_id
    await uc.revise_service(directory, lead("5A4"), sid, 1, {"name": "School nurses"}, CTX)

    with pytest.raises(ConcurrencyConflict) as caught:
        await uc.revise_service(directory, lead("5A4"), sid, 1, {"description": "Other"}, CTX)
    assert "reload" in caught.value.message

    now = await uc.get_service(directory, lead("5A4"), sid)
    assert (now.version, now.current().name) == (2, "School nurses")
    assert now.current().description == details().description


async def test_withdrawn_services_leave_the_default_search(directory: InMemoryDirectory) -> None:
    record = await uc.register_service(directory, ADMIN, "2009-10", details(), CTX)
    await uc.withdraw_service(directory, ADMIN, record.service_id, 1, "closed", CTX)
    assert (await uc.search(directory, ADMIN, DirectoryQuery())).total == 0
    withdrawn = DirectoryQuery(statuses=(ServiceStatus.WITHDRAWN,))
    assert (await uc.search(directory, ADMIN, withdrawn)).total == 1


async def test_carry_forward_carries_active_services_once(directory: InMemoryDirectory) -> None:
    keep = await uc.register_service(directory, ADMIN, "2009-10", details(), CTX)
    gone = await uc.register_service(directory, ADMIN, "2009-10", details(name="Old"), CTX)
    await uc.withdraw_service(directory, ADMIN, gone.service_id, 1, "closed", CTX)
    other_year = await uc.register_service(directory, ADMIN, "2008-09", details(), CTX)

    first = await uc.carry_forward(directory, "2010-11", None, CTX)
    again = await uc.carry_forward(directory, "2010-11", "2009-10", CTX)

    assert (first.previous_cycle, first.carried, first.already_carried) == ("2009-10", 1, 0)
    assert (again.carried, again.already_carried) == (0, 1)
    new_id = carried_forward_id(keep.service_id, "2010-11")
    new = await uc.get_service(directory, ADMIN, new_id)
    assert new.status is ServiceStatus.TO_BE_CHECKED
    assert new.previous_service_id == keep.service_id
    # Last year's record is untouched.
    last_year = await uc.get_service(directory, ADMIN, keep.service_id)
    assert (last_year.version, last_year.cycle, last_year.status) == (
        1,
        "2009-10",
        ServiceStatus.ACTIVE,
    )
    assert other_year.service_id not in {
        r.record.previous_service_id for r in directory.rows.values()
    }


async def test_carry_forward_refuses_bad_cycles(directory: InMemoryDirectory) -> None:
    with pytest.raises(InvalidInput) as caught:
        await uc.carry_forward(directory, "2010-12", None, CTX)
    assert caught.value.details[0]["field"] == "cycle"
    with pytest.raises(InvalidInput) as caught:
        await uc.carry_forward(directory, "2010-11", "2011-12", CTX)
    assert caught.value.details[0]["field"] == "from"


async def test_the_lead_confirms_or_revises_what_was_carried(directory: InMemoryDirectory) -> None:
    a = await uc.register_service(directory, ADMIN, "2009-10", details(name="A"), CTX)
    b = await uc.register_service(directory, ADMIN, "2009-10", details(name="B"), CTX)
    await uc.carry_forward(directory, "2010-11", None, CTX)
    a2, b2 = (carried_forward_id(x.service_id, "2010-11") for x in (a, b))

    confirmed = await uc.confirm_service(directory, lead("5A4"), a2, 1, CTX)
    revised = await uc.revise_service(
        directory, lead("5A4"), b2, 1, {"client_group.age_max": 19}, CTX
    )

    assert confirmed.status is ServiceStatus.ACTIVE
    assert revised.status is ServiceStatus.ACTIVE
    _, changes = await uc.changes_since_last_year(directory, lead("5A4"), b2)
    assert [(c.field, c.old, c.new) for c in changes] == [("client_group.age_max", 16, 19)]
    _, none = await uc.changes_since_last_year(directory, lead("5A4"), a2)
    assert none == []


async def test_search_filters(directory: InMemoryDirectory) -> None:
    async def add(**overrides: Any) -> uuid.UUID:
        record = await uc.register_service(directory, ADMIN, "2009-10", details(**overrides), CTX)
        return record.service_id

    nursing = await add()
    camhs = await add(
        name="Tier 3 CAMHS",
        description="Specialist mental health",
        service_type=ServiceType.SPECIALIST,
        camhs=True,
        camhs_tier=3,
        age_min=0,
        age_max=18,
        provider_id="RX1",
        commissioner_ids=(),
        group_id="east",
    )

    async def ids(**query: Any) -> list[uuid.UUID]:
        page = await uc.search(directory, ADMIN, DirectoryQuery(**query))
        return [s.service_id for s in page.items]

    assert await ids(area="LA9") == [camhs]
    assert await ids(area="LA1") == [nursing]
    assert await ids(locality="east") == [camhs]
    assert await ids(service_type=ServiceType.UNIVERSAL) == [nursing]
    assert await ids(tier=3) == [camhs]
    assert await ids(age=2) == [camhs]
    assert set(await ids(age=16)) == {camhs, nursing}
    assert await ids(text="mental health") == [camhs]
    assert await ids(cycle="2010-11") == []
