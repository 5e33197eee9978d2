"""Organisation use cases beyond registration, over the in-memory repository: changes with
optimistic concurrency, links made mutual, the history and the listing."""

from __future__ import annotations

import pytest

from csm_contracts.events import OrganisationKind, Region
from csm_kernel.errors import ConcurrencyConflict, Conflict, InvalidInput, NotFound
from csm_kernel.store import AppendContext
from registration.adapters.organisations_memory import InMemoryOrganisations
from registration.application.organisations import (
    OrganisationFilter,
    get_organisation,
    list_organisations,
    organisation_history,
    register_organisation,
    update_organisation,
)
from registration.domain.commands import RegisterOrganisation, RenameOrganisation
from registration.domain.organisation import OrganisationChange, StaleOrganisation, stream_id_for

K = OrganisationKind


def ctx(actor: str = "user:admin") -> AppendContext:
    return AppendContext(actor=actor, correlation_id=f"corr-{actor}")


def reg(
    code: str, kind: OrganisationKind = K.NHS_TRUST_ACUTE, **kw: object
) -> RegisterOrganisation:
    fields: dict[str, object] = {
        "code": code,
        "name": f"Organisation {code}",
        "kind": kind,
        "region": Region.LONDON,
    }
    fields.update(kw)
    return RegisterOrganisation(**fields)  # type: ignore[arg-type]


@pytest.fixture
def repo() -> InMemoryOrganisations:
    return InMemoryOrganisations()


async def test_registering_the_second_part_of_a_pct_links_both(
    repo: InMemoryOrganisations,
) -> None:
    await register_organisation(repo, reg("5NC", K.PCT_COMMISSIONING), ctx())

    provider = await register_organisation(
        repo, reg("5NP", K.PCT_PROVIDER, linked_organisation_id="5NC"), ctx()
    )

    assert provider.linked_organisation_id == "5NC"
    commissioning = await get_organisation(repo, "5NC")
    assert commissioning.linked_organisation_id == "5NP"
    assert commissioning.version == 2
    linked = (await repo.store.read_stream(stream_id_for("5NC")))[-1]
    assert linked.type == "registration.OrganisationLinked"
    assert linked.correlation_id == "corr-user:admin"
    assert repo.listed["5NC"].linked_organisation_id == "5NP"


async def test_a_refused_link_registers_nothing(repo: InMemoryOrganisations) -> None:
    await register_organisation(repo, reg("5NC", K.PCT_COMMISSIONING), ctx())
    await register_organisation(
        repo, reg("5NP", K.PCT_PROVIDER, linked_organisation_id="5NC"), ctx()
    )

    with pytest.raises(InvalidInput, match="already linked to 5NP"):
        await register_organisation(
            repo, reg("5NQ", K.PCT_PROVIDER, linked_organisation_id="5NC"), ctx()
        )

    assert await repo.store.stream_version(stream_id_for("5NQ")) == 0
    assert await repo.store.max_position() == 3


async def test_a_mapped_provider_needs_a_registered_lead(repo: InMemoryOrganisations) -> None:
    with pytest.raises(InvalidInput, match="no organisation with code 5NT"):
        await register_organisation(repo, reg("NX1", K.THIRD_SECTOR, mapped_by="5NT"), ctx())

    await register_organisation(repo, reg("5NT", K.PCT), ctx())
    provider = await register_organisation(repo, reg("NX1", K.THIRD_SECTOR, mapped_by="5NT"), ctx())

    assert provider.mapped_by == "5NT"


async def test_a_rename_from_the_current_version_is_recorded(repo: InMemoryOrganisations) -> None:
    await register_organisation(repo, reg("RX1"), ctx())

    renamed = await update_organisation(repo, "RX1", 1, ctx("user:lead"), name="New Name")

    assert (renamed.name, renamed.version) == ("New Name", 2)
    assert (await get_organisation(repo, "RX1")).name == "New Name"
    assert repo.listed["RX1"].name == "New Name"


async def test_a_second_writer_from_the_same_version_is_told_to_reload(
    repo: InMemoryOrganisations,
) -> None:
    await register_organisation(repo, reg("RX1"), ctx())
    await update_organisation(repo, "RX1", 1, ctx("user:a"), name="First Writer")

    with pytest.raises(StaleOrganisation) as raised:
        await update_organisation(repo, "RX1", 1, ctx("user:b"), name="Second Writer")

    assert raised.value.status_code == 409
    assert "reload" in raised.value.message
    # Nothing silently lost or overwritten.
    assert (await get_organisation(repo, "RX1")).name == "First Writer"
    assert await repo.store.stream_version(stream_id_for("RX1")) == 2


async def test_a_writer_that_loses_the_race_to_the_store_is_told_to_reload(
    repo: InMemoryOrganisations,
) -> None:
    await register_organisation(repo, reg("RX1"), ctx())

    class Slow(InMemoryOrganisations):
        async def load(self, code: str):  # type: ignore[no-untyped-def]
            org = await super().load(code)
            await update_organisation(repo, code, 1, ctx("user:fast"), name="Fast")
            return org

    slow = Slow(repo.store)

    with pytest.raises(StaleOrganisation):
        await update_organisation(slow, "RX1", 1, ctx("user:slow"), name="Slow")

    assert (await get_organisation(repo, "RX1")).name == "Fast"


async def test_name_and_areas_change_together_or_not_at_all(repo: InMemoryOrganisations) -> None:
    await register_organisation(repo, reg("RX1", partnership_areas=("LA1",)), ctx())
    await register_organisation(repo, reg("RY1"), ctx())

    with pytest.raises(InvalidInput, match="RY1 is registered as a nhs-trust-acute"):
        await update_organisation(repo, "RX1", 1, ctx(), name="New", partnership_areas=["RY1"])

    assert await repo.store.stream_version(stream_id_for("RX1")) == 1

    changed = await update_organisation(
        repo, "RX1", 1, ctx(), name="New", partnership_areas=["LA2", "LA1"]
    )

    assert (changed.name, changed.partnership_areas, changed.version) == ("New", ["LA1", "LA2"], 3)


async def test_an_update_that_changes_nothing_appends_nothing(repo: InMemoryOrganisations) -> None:
    await register_organisation(repo, reg("RX1", partnership_areas=("LA1",)), ctx())

    same = await update_organisation(
        repo, "RX1", 1, ctx(), name="Organisation RX1", partnership_areas=["LA1"]
    )

    assert same.version == 1
    assert await repo.store.max_position() == 1


async def test_updating_an_unknown_organisation_is_not_found(repo: InMemoryOrganisations) -> None:
    with pytest.raises(NotFound, match="RX9"):
        await update_organisation(repo, "RX9", 1, ctx(), name="Anything")


async def test_history_lists_every_change_with_who_when_and_old_and_new_values(
    repo: InMemoryOrganisations,
) -> None:
    await register_organisation(repo, reg("5NC", K.PCT_COMMISSIONING), ctx("user:admin"))
    await update_organisation(repo, "5NC", 1, ctx("user:lead"), name="Renamed")
    await update_organisation(repo, "5NC", 2, ctx("user:admin"), partnership_areas=["LA1"])
    await register_organisation(
        repo, reg("5NP", K.PCT_PROVIDER, linked_organisation_id="5NC"), ctx("user:admin2")
    )

    entries = await organisation_history(repo, "5NC")

    assert [(e.version, e.event, e.actor) for e in entries] == [
        (1, "OrganisationRegistered", "user:admin"),
        (2, "OrganisationRenamed", "user:lead"),
        (3, "PartnershipAreasChanged", "user:admin"),
        (4, "OrganisationLinked", "user:admin2"),
    ]
    assert entries[0].changes["name"] == {"old": None, "new": "Organisation 5NC"}
    assert entries[0].changes["kind"] == {"old": None, "new": K.PCT_COMMISSIONING}
    assert entries[1].changes == {"name": {"old": "Organisation 5NC", "new": "Renamed"}}
    assert entries[2].changes == {"partnership_areas": {"old": [], "new": ["LA1"]}}
    assert entries[3].changes == {"linked_organisation_id": {"old": None, "new": "5NP"}}
    assert entries[1].correlation_id == "corr-user:lead"
    assert entries[0].occurred_at <= entries[3].occurred_at


async def test_history_of_an_unknown_organisation_is_not_found(repo: InMemoryOrganisations) -> None:
    with pytest.raises(NotFound):
        await organisation_history(repo, "RX9")


async def test_the_listing_filters_and_pages_in_code_order(repo: InMemoryOrganisations) -> None:
    await register_organisation(repo, reg("RX3", partnership_areas=("LA1",)), ctx())
    await register_organisation(repo, reg("RX1", partnership_areas=("LA1", "LA2")), ctx())
    await register_organisation(repo, reg("RX2", region=Region.NORTH_EAST), ctx())
    await register_organisation(repo, reg("LA1", K.LOCAL_AUTHORITY), ctx())

    everything = await list_organisations(repo, OrganisationFilter(limit=2))
    assert [o.code for o in everything.items] == ["LA1", "RX1"]
    assert (everything.total, everything.next_after) == (4, "RX1")
    rest = await list_organisations(repo, OrganisationFilter(limit=2, after="RX1"))
    assert [o.code for o in rest.items] == ["RX2", "RX3"]
    assert rest.next_after is None
    assert (everything.previous_before, rest.previous_before) == (None, "RX2")
    back = await list_organisations(repo, OrganisationFilter(limit=2, before="RX2"))
    assert [o.code for o in back.items] == ["LA1", "RX1"]
    assert (back.previous_before, back.next_after) == (None, "RX1")
    middle = await list_organisations(repo, OrganisationFilter(limit=1, before="RX2"))
    assert [o.code for o in middle.items] == ["RX1"]
    assert (middle.previous_before, middle.next_after) == ("RX1", "RX1")

    in_area = await list_organisations(repo, OrganisationFilter(area="LA1"))
    assert [o.code for o in in_area.items] == ["LA1", "RX1", "RX3"]
    london_trusts = await list_organisations(
        repo, OrganisationFilter(region=Region.LONDON, kind=K.NHS_TRUST_ACUTE)
    )
    assert [o.code for o in london_trusts.items] == ["RX1", "RX3"]
    assert london_trusts.total == 2


async def test_the_in_memory_repository_refuses_a_save_from_a_moved_stream(
    repo: InMemoryOrganisations,
) -> None:
    await register_organisation(repo, reg("RX1"), ctx())
    await register_organisation(repo, reg("RX2"), ctx())
    org1, org2 = await repo.load("RX1"), await repo.load("RX2")
    await update_organisation(repo, "RX2", 1, ctx(), name="Moved")

    with pytest.raises(ConcurrencyConflict):
        await repo.save(
            [
                OrganisationChange(org1, tuple(org1.rename(RenameOrganisation("RX1", "A", 1)))),
                OrganisationChange(org2, tuple(org2.rename(RenameOrganisation("RX2", "B", 1)))),
            ],
            ctx(),
        )

    # All or nothing: RX1's rename was not appended either.
    assert (await repo.load("RX1")).name == "Organisation RX1"


async def test_registration_race_on_a_link_target_is_a_conflict(
    repo: InMemoryOrganisations,
) -> None:
    await register_organisation(repo, reg("5NC", K.PCT_COMMISSIONING), ctx())

    class Racing(InMemoryOrganisations):
        async def load_many(self, codes):  # type: ignore[no-untyped-def]
            found = await super().load_many(codes)
            await update_organisation(repo, "5NC", 1, ctx(), name="Meanwhile")
            return found

    racing = Racing(repo.store)
    racing.listed = repo.listed

    with pytest.raises(Conflict, match="5NC changed while 5NP was being linked"):
        await register_organisation(
            racing, reg("5NP", K.PCT_PROVIDER, linked_organisation_id="5NC"), ctx()
        )

    assert await repo.store.stream_version(stream_id_for("5NP")) == 0
