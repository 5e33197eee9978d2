"""The Organisation aggregate on its own: commands in, events out, no I/O."""

from __future__ import annotations

import pytest

from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_kernel.errors import Conflict, InvalidInput
from registration.domain.commands import RegisterOrganisation
from registration.domain.organisation import Organisation, stream_id_for


def _command(code: str = "RX1", **overrides: object) -> RegisterOrganisation:
    fields: dict[str, object] = {
        "code": code,
        "name": "Leeds Community Healthcare",
        "kind": OrganisationKind.NHS_TRUST_COMMUNITY,
        "region": Region.YORKSHIRE_AND_THE_HUMBER,
        "partnership_areas": ("LA383", "LA384"),
        "linked_organisation_id": None,
    }
    fields.update(overrides)
    return RegisterOrganisation(**fields)  # type: ignore[arg-type]


def _registered(code: str = "RX1") -> Organisation:
    org = Organisation(code=code)
    return org.evolved(org.register(_command(code)))


def test_stream_id_is_named_by_the_code() -> None:
    assert stream_id_for("RX1") == "organisation-RX1"
    assert stream_id_for("RX1") != stream_id_for("RX2")


def test_register_produces_one_organisation_registered_with_the_commands_fields() -> None:
    cmd = _command("RX1", kind=OrganisationKind.PCT_COMMISSIONING, linked_organisation_id="RX2")
    org = Organisation(code="RX1")

    events = org.register(cmd)

    assert len(events) == 1
    (event,) = events
    assert isinstance(event, OrganisationRegistered)
    assert event.organisation_id == "RX1"
    assert event.code == "RX1"
    assert event.name == "Leeds Community Healthcare"
    assert event.kind is OrganisationKind.PCT_COMMISSIONING
    assert event.region is Region.YORKSHIRE_AND_THE_HUMBER
    assert event.partnership_areas == ["LA383", "LA384"]
    assert event.linked_organisation_id == "RX2"
    assert event.mapped_by is None
    # The organisation is the Kafka key, so its events stay in order.
    assert event.partition_key == "RX1"


def test_register_only_decides_it_does_not_change_the_aggregate() -> None:
    org = Organisation(code="RX1")

    org.register(_command("RX1"))

    assert org.version == 0
    assert not org.registered
    assert org.name is None


def test_applying_the_registration_sets_the_state() -> None:
    org = _registered("RX1")

    assert org.registered
    assert org.version == 1
    assert org.name == "Leeds Community Healthcare"
    assert org.kind is OrganisationKind.NHS_TRUST_COMMUNITY
    assert org.region is Region.YORKSHIRE_AND_THE_HUMBER
    assert org.partnership_areas == ["LA383", "LA384"]


def test_registering_an_already_registered_organisation_is_a_conflict() -> None:
    org = _registered("RX1")

    with pytest.raises(Conflict) as raised:
        org.register(_command("RX1", name="Someone Else"))

    assert raised.value.status_code == 409
    assert "RX1" in raised.value.message
    # Nothing changed.
    assert org.version == 1
    assert org.name == "Leeds Community Healthcare"


def test_an_organisation_cannot_be_linked_to_itself() -> None:
    org = Organisation(code="RX1")

    with pytest.raises(InvalidInput, match="itself") as raised:
        org.register(_command("RX1", linked_organisation_id="RX1"))

    assert raised.value.status_code == 422
    assert raised.value.details == [
        {"field": "linked_organisation_id", "reason": "an organisation cannot be linked to itself"}
    ]
    assert not org.registered


def test_linking_a_pct_part_to_another_organisation_is_allowed() -> None:
    (event,) = Organisation(code="5NT").register(
        _command("5NT", kind=OrganisationKind.PCT_PROVIDER, linked_organisation_id="5NL")
    )
    assert isinstance(event, OrganisationRegistered)
    assert event.linked_organisation_id == "5NL"


def test_from_history_rebuilds_state_and_version() -> None:
    (event,) = Organisation(code="RX1").register(_command("RX1"))

    org = Organisation.from_history("RX1", [event])

    assert org.code == "RX1"
    assert org.version == 1
    assert org.registered
    assert org.name == "Leeds Community Healthcare"
    assert org.kind is OrganisationKind.NHS_TRUST_COMMUNITY
    assert org.region is Region.YORKSHIRE_AND_THE_HUMBER
    assert org.partnership_areas == ["LA383", "LA384"]
    # The rebuilt aggregate enforces the same rules as the one that made the event.
    with pytest.raises(Conflict):
        org.register(_command("RX1"))


def test_from_empty_history_is_an_unregistered_organisation() -> None:
    org = Organisation.from_history("RX1", [])

    assert org.code == "RX1"
    assert org.version == 0
    assert not org.registered
    assert org.name is None
    assert org.kind is None
    assert org.region is None
    assert org.partnership_areas == []


def test_from_history_does_not_share_the_events_list() -> None:
    (event,) = Organisation(code="RX1").register(_command("RX1"))
    org = Organisation.from_history("RX1", [event])

    org.partnership_areas.append("LA999")

    assert event.partnership_areas == ["LA383", "LA384"]


def test_a_command_for_another_code_is_refused() -> None:
    org = Organisation(code="RX1")

    with pytest.raises(InvalidInput) as raised:
        org.register(_command("RX2"))

    assert raised.value.details[0]["field"] == "code"
    assert not org.registered
