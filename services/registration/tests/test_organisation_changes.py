"""The Organisation aggregate after registration: renames, partnership areas, links, the
kind-specific registration rules, and reconciling with an import row. No I/O."""

from __future__ import annotations

import dataclasses

import pytest

from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_contracts.events.registration import (
    OrganisationLinked,
    OrganisationRenamed,
    PartnershipAreasChanged,
)
from csm_kernel.errors import ConcurrencyConflict, Conflict, InvalidInput, NotFound
from registration.domain.commands import (
    ChangePartnershipAreas,
    RegisterOrganisation,
    RenameOrganisation,
)
from registration.domain.organisation import (
    Organisation,
    OrganisationChange,
    StaleOrganisation,
    decide_registration,
)

K = OrganisationKind


def cmd(code: str = "RX1", **overrides: object) -> RegisterOrganisation:
    fields: dict[str, object] = {
        "code": code,
        "name": "Leeds Community Healthcare",
        "kind": K.NHS_TRUST_COMMUNITY,
        "region": Region.YORKSHIRE_AND_THE_HUMBER,
        "partnership_areas": ("LA383",),
    }
    fields.update(overrides)
    return RegisterOrganisation(**fields)  # type: ignore[arg-type]


def registered(code: str = "RX1", **overrides: object) -> Organisation:
    org = Organisation(code=code)
    return org.evolved(org.register(cmd(code, **overrides)))


def details(exc: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {d["field"]: d["reason"] for d in exc.value.details}


# --- registration rules by kind --------------------------------------------------------------


@pytest.mark.parametrize("kind", [K.THIRD_SECTOR, K.PRIVATE_PROVIDER])
def test_a_provider_mapped_by_a_lead_organisation_must_name_it(kind: OrganisationKind) -> None:
    with pytest.raises(InvalidInput) as raised:
        Organisation(code="NX1").register(cmd("NX1", kind=kind))

    assert "lead organisation" in details(raised)["mapped_by"]


@pytest.mark.parametrize("kind", [K.THIRD_SECTOR, K.PRIVATE_PROVIDER])
def test_a_mapped_provider_records_its_lead_organisation(kind: OrganisationKind) -> None:
    (event,) = Organisation(code="NX1").register(cmd("NX1", kind=kind, mapped_by="5NT"))

    assert isinstance(event, OrganisationRegistered)
    assert event.mapped_by == "5NT"
    assert registered("NX1", kind=kind, mapped_by="5NT").mapped_by == "5NT"


@pytest.mark.parametrize("kind", [K.PCT, K.LOCAL_AUTHORITY, K.NHS_TRUST_ACUTE, K.PCT_PROVIDER])
def test_only_mapped_kinds_may_name_a_lead_organisation(kind: OrganisationKind) -> None:
    with pytest.raises(InvalidInput) as raised:
        Organisation(code="RX1").register(cmd("RX1", kind=kind, mapped_by="5NT"))

    assert f"not a {kind.value}" in details(raised)["mapped_by"]


def test_a_provider_cannot_map_itself() -> None:
    with pytest.raises(InvalidInput) as raised:
        Organisation(code="NX1").register(cmd("NX1", kind=K.THIRD_SECTOR, mapped_by="NX1"))

    assert details(raised) == {"mapped_by": "an organisation cannot map itself"}


@pytest.mark.parametrize("kind", [K.PCT, K.LOCAL_AUTHORITY, K.NHS_TRUST_ACUTE, K.THIRD_SECTOR])
def test_only_the_parts_of_a_split_pct_are_linked(kind: OrganisationKind) -> None:
    extra = {"mapped_by": "5NT"} if kind is K.THIRD_SECTOR else {}
    with pytest.raises(InvalidInput) as raised:
        Organisation(code="RX1").register(
            cmd("RX1", kind=kind, linked_organisation_id="RX2", **extra)
        )

    assert "split PCT" in details(raised)["linked_organisation_id"]


def test_a_local_authority_always_belongs_to_its_own_area() -> None:
    (event,) = Organisation(code="LA383").register(
        cmd("LA383", kind=K.LOCAL_AUTHORITY, partnership_areas=())
    )

    assert isinstance(event, OrganisationRegistered)
    assert event.partnership_areas == ["LA383"]


def test_areas_are_stored_sorted_and_without_duplicates() -> None:
    org = registered("RX1", partnership_areas=("LB2", "LA1", "LB2"))

    assert org.partnership_areas == ["LA1", "LB2"]


def test_only_a_local_authority_can_be_its_own_area() -> None:
    with pytest.raises(InvalidInput) as raised:
        Organisation(code="RX1").register(cmd("RX1", partnership_areas=("RX1",)))

    assert "only a local authority" in details(raised)["partnership_areas"]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as raised:
        Organisation(code="NX1").register(
            cmd(
                "NX1",
                name="   ",
                kind=K.THIRD_SECTOR,
                partnership_areas=("bad",),
                linked_organisation_id="NX2",
            )
        )

    assert set(details(raised)) == {
        "name",
        "mapped_by",
        "linked_organisation_id",
        "partnership_areas",
    }
    assert details(raised)["name"] == "must not be empty"


def test_a_registered_name_is_stripped() -> None:
    assert registered("RX1", name="  Leeds Trust ").name == "Leeds Trust"


# --- rename ----------------------------------------------------------------------------------


def test_rename_records_the_old_and_the_new_name() -> None:
    org = registered("RX1")

    (event,) = org.rename(RenameOrganisation("RX1", " Leeds Community NHS Trust ", 1))

    assert event == OrganisationRenamed(
        organisation_id="RX1",
        old_name="Leeds Community Healthcare",
        new_name="Leeds Community NHS Trust",
    )
    assert org.version == 1  # deciding changes nothing
    after = org.evolved([event])
    assert after.name == "Leeds Community NHS Trust"
    assert after.version == 2
    assert org.name == "Leeds Community Healthcare"  # evolved is a copy


def test_renaming_to_the_same_name_records_nothing() -> None:
    assert (
        registered("RX1").rename(RenameOrganisation("RX1", "Leeds Community Healthcare", 1)) == []
    )


def test_rename_from_a_stale_version_is_refused_with_a_reload_message() -> None:
    org = registered("RX1")
    org = org.evolved(org.rename(RenameOrganisation("RX1", "Second", 1)))

    with pytest.raises(StaleOrganisation) as raised:
        org.rename(RenameOrganisation("RX1", "Third", 1))

    assert isinstance(raised.value, ConcurrencyConflict)
    assert raised.value.status_code == 409
    assert "reload" in raised.value.message
    assert "version 1" in raised.value.message and "version 2" in raised.value.message
    assert raised.value.details[0]["field"] == "expected_version"


@pytest.mark.parametrize(("name", "reason"), [("  ", "empty"), ("x" * 201, "at most 200")])
def test_rename_to_an_unusable_name_is_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        registered("RX1").rename(RenameOrganisation("RX1", name, 1))

    assert reason in details(raised)["name"]


def test_renaming_an_unregistered_organisation_is_not_found() -> None:
    with pytest.raises(NotFound):
        Organisation(code="RX1").rename(RenameOrganisation("RX1", "New", 0))


# --- partnership areas -----------------------------------------------------------------------


def test_changing_areas_records_the_old_and_new_lists() -> None:
    org = registered("RX1", partnership_areas=("LA383",))

    (event,) = org.change_partnership_areas(
        ChangePartnershipAreas("RX1", ("LA384", "LA383", "LA384"), 1)
    )

    assert event == PartnershipAreasChanged(
        organisation_id="RX1",
        old_partnership_areas=["LA383"],
        new_partnership_areas=["LA383", "LA384"],
    )
    assert org.evolved([event]).partnership_areas == ["LA383", "LA384"]


def test_the_same_areas_in_another_order_record_nothing() -> None:
    org = registered("RX1", partnership_areas=("LA383", "LA384"))

    assert org.change_partnership_areas(ChangePartnershipAreas("RX1", ("LA384", "LA383"), 1)) == []


def test_a_local_authority_keeps_its_own_area() -> None:
    org = registered("LA383", kind=K.LOCAL_AUTHORITY, partnership_areas=("LA384",))
    assert org.partnership_areas == ["LA383", "LA384"]

    (event,) = org.change_partnership_areas(ChangePartnershipAreas("LA383", (), 1))

    assert isinstance(event, PartnershipAreasChanged)
    assert event.new_partnership_areas == ["LA383"]


def test_areas_must_be_codes() -> None:
    with pytest.raises(InvalidInput) as raised:
        registered("RX1").change_partnership_areas(ChangePartnershipAreas("RX1", ("la383",), 1))

    assert "'la383' is not an organisation code" in details(raised)["partnership_areas"]


def test_areas_from_a_stale_version_are_refused() -> None:
    with pytest.raises(StaleOrganisation):
        registered("RX1").change_partnership_areas(ChangePartnershipAreas("RX1", ("LB1",), 2))


# --- linking the parts of a split PCT -------------------------------------------------------


def test_registering_the_second_part_links_the_first_one_back() -> None:
    first = registered("5NC", kind=K.PCT_COMMISSIONING)

    changes = decide_registration(
        Organisation(code="5NP"),
        cmd("5NP", kind=K.PCT_PROVIDER, linked_organisation_id="5NC"),
        {"5NC": first},
    )

    assert [(c.code, c.expected_version) for c in changes] == [("5NP", 0), ("5NC", 1)]
    (registration,) = changes[0].events
    assert isinstance(registration, OrganisationRegistered)
    assert registration.linked_organisation_id == "5NC"
    assert changes[1].events == (
        OrganisationLinked(organisation_id="5NC", linked_organisation_id="5NP"),
    )
    assert changes[1].after().linked_organisation_id == "5NP"
    assert changes[1].after().version == 2


def test_a_link_to_an_unregistered_part_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        decide_registration(
            Organisation(code="5NP"),
            cmd("5NP", kind=K.PCT_PROVIDER, linked_organisation_id="5NC"),
            {},
        )

    assert "no organisation with code 5NC" in details(raised)["linked_organisation_id"]


def test_a_part_links_only_to_the_other_kind_of_part() -> None:
    other = registered("5NX", kind=K.PCT_PROVIDER)

    with pytest.raises(InvalidInput) as raised:
        decide_registration(
            Organisation(code="5NP"),
            cmd("5NP", kind=K.PCT_PROVIDER, linked_organisation_id="5NX"),
            {"5NX": other},
        )

    assert "links only to a pct-commissioning part" in details(raised)["linked_organisation_id"]


def test_a_part_already_linked_elsewhere_cannot_be_linked_again() -> None:
    first = registered("5NC", kind=K.PCT_COMMISSIONING, linked_organisation_id="5NP")

    with pytest.raises(InvalidInput) as raised:
        decide_registration(
            Organisation(code="5NQ"),
            cmd("5NQ", kind=K.PCT_PROVIDER, linked_organisation_id="5NC"),
            {"5NC": first},
        )

    assert "already linked to 5NP" in details(raised)["linked_organisation_id"]


def test_a_part_already_linked_to_the_newcomer_gets_no_second_link() -> None:
    first = registered("5NC", kind=K.PCT_COMMISSIONING, linked_organisation_id="5NP")

    changes = decide_registration(
        Organisation(code="5NP"),
        cmd("5NP", kind=K.PCT_PROVIDER, linked_organisation_id="5NC"),
        {"5NC": first},
    )

    assert [c.code for c in changes] == ["5NP"]


def test_link_is_idempotent_and_never_changes() -> None:
    org = registered("5NC", kind=K.PCT_COMMISSIONING)
    linked = org.evolved(org.link("5NP"))

    assert linked.link("5NP") == []
    with pytest.raises(Conflict, match="already linked to 5NP"):
        linked.link("5NQ")


# --- references checked against other organisations -----------------------------------------


def test_the_lead_organisation_must_be_registered() -> None:
    with pytest.raises(InvalidInput) as raised:
        decide_registration(
            Organisation(code="NX1"), cmd("NX1", kind=K.THIRD_SECTOR, mapped_by="5NT"), {}
        )

    assert details(raised) == {"mapped_by": "no organisation with code 5NT is registered"}


def test_the_lead_organisation_cannot_be_a_provider_itself() -> None:
    lead = registered("NX9", kind=K.PRIVATE_PROVIDER, mapped_by="5NT")

    with pytest.raises(InvalidInput) as raised:
        decide_registration(
            Organisation(code="NX1"),
            cmd("NX1", kind=K.THIRD_SECTOR, mapped_by="NX9"),
            {"NX9": lead},
        )

    assert "must be a PCT, a local authority or an NHS trust" in details(raised)["mapped_by"]


def test_a_malformed_lead_code_is_not_also_reported_as_unknown() -> None:
    with pytest.raises(InvalidInput) as raised:
        decide_registration(
            Organisation(code="NX1"), cmd("NX1", kind=K.THIRD_SECTOR, mapped_by="5nt"), {}
        )

    assert len(raised.value.details) == 1
    assert "not an organisation code" in details(raised)["mapped_by"]


def test_an_area_that_is_a_registered_organisation_must_be_a_local_authority() -> None:
    trust = registered("RY1")
    la = registered("LA383", kind=K.LOCAL_AUTHORITY)

    with pytest.raises(InvalidInput) as raised:
        decide_registration(
            Organisation(code="RX1"),
            cmd("RX1", partnership_areas=("RY1", "LA383", "LA999")),
            {"RY1": trust, "LA383": la},
        )

    assert raised.value.details == [
        {
            "field": "partnership_areas",
            "reason": "RY1 is registered as a nhs-trust-community, not a local authority, so it "
            "is not a partnership area",
        }
    ]


def test_a_registration_with_good_references_is_one_change() -> None:
    lead = registered("5NT", kind=K.PCT)

    (change,) = decide_registration(
        Organisation(code="NX1"),
        cmd("NX1", kind=K.THIRD_SECTOR, mapped_by="5NT"),
        {"5NT": lead},
    )

    assert isinstance(change, OrganisationChange)
    assert change.expected_version == 0
    assert change.after().mapped_by == "5NT"


def test_deciding_a_registration_of_a_taken_code_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="already registered"):
        decide_registration(registered("RX1"), cmd("RX1"), {})


# --- reconcile (a bulk-import row against the current state) ---------------------------------


def test_reconciling_a_new_organisation_registers_it() -> None:
    (event,) = Organisation(code="RX1").reconcile(cmd("RX1"))

    assert isinstance(event, OrganisationRegistered)


def test_reconciling_the_same_details_records_nothing() -> None:
    org = registered("RX1", partnership_areas=("LA2", "LA1"))

    assert org.reconcile(cmd("RX1", partnership_areas=("LA1", "LA2", "LA1"))) == []


def test_reconciling_a_new_name_and_areas_records_both_changes() -> None:
    org = registered("RX1")

    events = org.reconcile(cmd("RX1", name="New Name", partnership_areas=("LA9",)))

    assert [type(e) for e in events] == [OrganisationRenamed, PartnershipAreasChanged]
    after = org.evolved(events)
    assert (after.name, after.partnership_areas, after.version) == ("New Name", ["LA9"], 3)


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("kind", {"kind": K.NHS_TRUST_ACUTE}),
        ("region", {"region": Region.LONDON}),
    ],
)
def test_kind_and_region_cannot_change_by_reconciling(
    field: str, change: dict[str, object]
) -> None:
    org = registered("RX1")

    with pytest.raises(InvalidInput) as raised:
        org.reconcile(dataclasses.replace(cmd("RX1"), **change))  # type: ignore[arg-type]

    assert details(raised)[field].startswith("cannot change: RX1 is registered with")


def test_the_lead_organisation_cannot_change_by_reconciling() -> None:
    org = registered("NX1", kind=K.THIRD_SECTOR, mapped_by="5NT")

    with pytest.raises(InvalidInput) as raised:
        org.reconcile(cmd("NX1", kind=K.THIRD_SECTOR, mapped_by="5NU"))

    assert details(raised) == {"mapped_by": "cannot change: NX1 is registered with 5NT"}


def test_a_blank_link_leaves_an_existing_link_alone() -> None:
    org = registered("5NC", kind=K.PCT_COMMISSIONING, linked_organisation_id="5NP")

    assert org.reconcile(cmd("5NC", kind=K.PCT_COMMISSIONING)) == []


def test_reconciling_adds_a_missing_link_but_never_changes_one() -> None:
    unlinked = registered("5NC", kind=K.PCT_COMMISSIONING)
    (event,) = unlinked.reconcile(
        cmd("5NC", kind=K.PCT_COMMISSIONING, linked_organisation_id="5NP")
    )
    assert event == OrganisationLinked(organisation_id="5NC", linked_organisation_id="5NP")

    linked = unlinked.evolved([event])
    with pytest.raises(InvalidInput) as raised:
        linked.reconcile(cmd("5NC", kind=K.PCT_COMMISSIONING, linked_organisation_id="5NQ"))
    assert details(raised) == {
        "linked_organisation_id": "cannot change: 5NC is already linked to 5NP"
    }


def test_from_history_replays_every_kind_of_change() -> None:
    org = Organisation(code="5NC")
    events = org.register(cmd("5NC", kind=K.PCT_COMMISSIONING))
    org = org.evolved(events)
    more = [
        *org.rename(RenameOrganisation("5NC", "Renamed", 1)),
    ]
    org = org.evolved(more)
    more2 = [
        *org.change_partnership_areas(ChangePartnershipAreas("5NC", ("LA1", "LA2"), 2)),
        *org.link("5NP"),
    ]

    rebuilt = Organisation.from_history("5NC", [*events, *more, *more2])

    assert rebuilt == org.evolved(more2)
    assert (rebuilt.name, rebuilt.partnership_areas, rebuilt.linked_organisation_id) == (
        "Renamed",
        ["LA1", "LA2"],
        "5NP",
    )
    assert rebuilt.version == 4
