"""The service record aggregate: its rules and the events it decides on. No I/O."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from csm_contracts.events.directory import (
    ServiceCarriedForward,
    ServiceConfirmed,
    ServiceRegistered,
    ServiceRevised,
    ServiceStatus,
    ServiceType,
    ServiceWithdrawn,
)
from csm_contracts.registry import payload_class
from csm_kernel.errors import Conflict, InvalidInput
from registration.domain.service_record import (
    ServiceDetails,
    ServiceRecord,
    carried_forward_id,
    cycle_problem,
    previous_cycle,
    stream_id_for,
)

SID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def details(**overrides: Any) -> ServiceDetails:
    base = ServiceDetails(
        name="Speech and language therapy",
        description="Assessment and therapy for children with speech difficulties.",
        service_type=ServiceType.TARGETED,
        age_min=2,
        age_max=11,
        needs=("speech and language",),
        provider_id="5A4",
        commissioner_ids=("00BR",),
        contact_name="Pat Jones",
        contact_email="pat.jones@example.nhs.uk",
        contact_phone="0161 555 0101",
    )
    return dataclasses.replace(base, **overrides)


def registered(**overrides: Any) -> ServiceRecord:
    record = ServiceRecord(service_id=SID)
    record = record.after(record.register("2009-10", details(**overrides)))
    return record


def problem_fields(d: ServiceDetails) -> list[str]:
    return [p["field"] for p in d.problems()]


# --- rules ------------------------------------------------------------------------------


def test_a_sound_record_has_no_problems() -> None:
    assert details().problems() == []


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"age_min": 12, "age_max": 5}, "client_group.age_min", "greater than the maximum"),
        ({"age_min": -1}, "client_group.age_min", "0 to 25"),
        ({"age_max": 26}, "client_group.age_max", "0 to 25"),
        ({"camhs_tier": 2}, "camhs_tier", "only for a CAMHS service"),
        ({"camhs": True, "camhs_tier": 5}, "camhs_tier", "not a CAMHS tier"),
        ({"camhs": True, "camhs_tier": 0}, "camhs_tier", "not a CAMHS tier"),
        ({"camhs": True}, "camhs_tier", "needs its tier"),
        ({"contact_email": "pat.example.org"}, "contact.email", "not an email"),
        ({"contact_email": "pat@localhost"}, "contact.email", "not an email"),
        ({"contact_email": "pat @x.org"}, "contact.email", "not an email"),
        ({"contact_phone": "call me"}, "contact.phone", "not a phone number"),
        ({"name": "  "}, "name", "blank"),
        ({"contact_name": ""}, "contact.name", "blank"),
        ({"provider_id": "5a4"}, "provider_id", "not an organisation code"),
        ({"commissioner_ids": ("00BR", "00BR")}, "commissioner_ids", "twice"),
        ({"needs": ("autism", "autism")}, "client_group.needs", "twice"),
        ({"group_id": ""}, "group_id", "1 to 64"),
    ],
)
def test_each_rule_names_its_field_and_reason(
    overrides: dict[str, Any], field: str, words: str
) -> None:
    problems = details(**overrides).problems()
    assert [p["field"] for p in problems] == [field], problems
    assert words in problems[0]["reason"]


def test_a_bad_commissioner_code_is_named_by_its_position() -> None:
    assert problem_fields(details(commissioner_ids=("00BR", "x"))) == ["commissioner_ids.1"]


def test_every_problem_is_reported_at_once() -> None:
    bad = details(age_min=9, age_max=3, contact_email="nope", camhs_tier=1)
    with pytest.raises(InvalidInput) as caught:
        bad.check()
    fields = [d["field"] for d in caught.value.details]
    assert fields == ["client_group.age_min", "camhs_tier", "contact.email"]


def test_a_camhs_service_with_a_tier_is_fine() -> None:
    assert details(camhs=True, camhs_tier=3).problems() == []


@pytest.mark.parametrize(
    ("cycle", "ok"),
    [
        ("2009-10", True),
        ("1999-00", True),
        ("2009-11", False),
        ("2009/10", False),
        ("09-10", False),
    ],
)
def test_cycle_names(cycle: str, ok: bool) -> None:
    assert (cycle_problem(cycle) is None) is ok


def test_previous_cycle() -> None:
    assert previous_cycle("2010-11") == "2009-10"
    assert previous_cycle("2000-01") == "1999-00"


# --- register ---------------------------------------------------------------------------


def test_register_gives_one_event_with_the_whole_record_keyed_by_the_provider() -> None:
    (event,) = ServiceRecord(service_id=SID).register("2009-10", details())
    assert isinstance(event, ServiceRegistered)
    assert event.service_id == SID
    assert event.organisation_id == "5A4"
    assert event.partition_key == "5A4"
    assert event.cycle == "2009-10"
    assert event.client_group.age_min == 2 and event.client_group.needs == ["speech and language"]
    assert event.contact.email == "pat.jones@example.nhs.uk"


def test_a_registered_record_is_active_at_version_one() -> None:
    record = registered()
    assert record.version == 1
    assert record.status is ServiceStatus.ACTIVE
    assert record.current() == details()
    assert record.stream_id == f"service-{SID}"


def test_register_refuses_bad_input_and_a_bad_cycle() -> None:
    with pytest.raises(InvalidInput) as caught:
        ServiceRecord(service_id=SID).register("2009-10", details(age_min=20, age_max=3))
    assert caught.value.details[0]["field"] == "client_group.age_min"
    with pytest.raises(InvalidInput) as caught:
        ServiceRecord(service_id=SID).register("2009-11", details())
    assert caught.value.details[0]["field"] == "cycle"


def test_registering_twice_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        registered().register("2009-10", details())


# --- revise -----------------------------------------------------------------------------


def test_revise_records_each_changed_field_old_and_new() -> None:
    record = registered()
    (event,) = record.revise(
        {"name": "SALT", "client_group.age_max": 16, "contact.phone": None, "description": None}
        | {"description": details().description}  # unchanged: not listed
    )
    assert isinstance(event, ServiceRevised)
    changes = {c.field: (c.old, c.new) for c in event.changes}
    assert changes == {
        "name": ("Speech and language therapy", "SALT"),
        "client_group.age_max": (11, 16),
        "contact.phone": ("0161 555 0101", None),
    }
    record = record.after([event])
    assert record.version == 2
    assert record.current().name == "SALT"
    assert record.current().age_max == 16
    assert record.current().contact_phone is None


def test_a_revision_that_changes_nothing_causes_no_event() -> None:
    assert registered().revise({"name": "Speech and language therapy"}) == []


def test_revise_checks_the_revised_record() -> None:
    with pytest.raises(InvalidInput) as caught:
        registered().revise({"client_group.age_min": 15})
    assert caught.value.details[0]["field"] == "client_group.age_min"
    with pytest.raises(InvalidInput) as caught:
        registered().revise({"camhs_tier": 2})
    assert caught.value.details[0]["field"] == "camhs_tier"


def test_revise_can_make_it_a_camhs_service_with_its_tier() -> None:
    record = registered()
    record = record.after(record.revise({"camhs": True, "camhs_tier": 2}))
    assert (record.current().camhs, record.current().camhs_tier) == (True, 2)


def test_revise_refuses_null_for_a_required_field_and_a_new_provider() -> None:
    with pytest.raises(InvalidInput) as caught:
        registered().revise({"name": None})
    assert caught.value.details[0]["field"] == "name"
    with pytest.raises(InvalidInput) as caught:
        registered().revise({"provider_id": "RX1"})
    assert caught.value.details[0]["field"] == "provider_id"
    with pytest.raises(InvalidInput) as caught:
        registered().revise({"colour": "blue"})
    assert caught.value.details[0]["field"] == "colour"


# --- withdraw and confirm ---------------------------------------------------------------


def test_withdraw_records_the_reason_and_closes_the_record() -> None:
    record = registered()
    (event,) = record.withdraw("decommissioned in March")
    assert isinstance(event, ServiceWithdrawn) and event.reason == "decommissioned in March"
    record = record.after([event])
    assert record.status is ServiceStatus.WITHDRAWN
    assert record.withdrawn_reason == "decommissioned in March"
    for act in (lambda: record.withdraw("again"), lambda: record.revise({"name": "X"})):
        with pytest.raises(Conflict):
            act()


def test_withdraw_needs_a_reason() -> None:
    with pytest.raises(InvalidInput) as caught:
        registered().withdraw("   ")
    assert caught.value.details[0]["field"] == "reason"


def test_only_a_record_to_be_checked_is_confirmed() -> None:
    with pytest.raises(Conflict):
        registered().confirm()


# --- carry-forward ----------------------------------------------------------------------


def carried(**overrides: Any) -> tuple[ServiceRecord, ServiceCarriedForward]:
    last_year = registered(**overrides)
    event = last_year.carry_forward("2010-11")
    record = ServiceRecord(service_id=event.service_id)
    record = record.after([event])
    return record, event


def test_carry_forward_makes_a_linked_record_to_be_checked_with_a_derived_id() -> None:
    record, event = carried()
    assert event.service_id == carried_forward_id(SID, "2010-11") != SID
    assert event.previous_service_id == SID and event.previous_cycle == "2009-10"
    assert record.status is ServiceStatus.TO_BE_CHECKED
    assert record.cycle == "2010-11"
    assert record.current() == details()
    assert record.previous_service_id == SID
    assert record.changes_since_last_year() == []
    # The same record carried again gets the same id: the store refuses a second stream.
    assert registered().carry_forward("2010-11").service_id == event.service_id
    assert registered().carry_forward("2011-12").service_id != event.service_id


def test_only_an_active_record_carries() -> None:
    record = registered()
    record = record.after(record.withdraw("gone"))
    with pytest.raises(Conflict):
        record.carry_forward("2010-11")


def test_confirm_makes_a_carried_record_active() -> None:
    record, _ = carried()
    (event,) = record.confirm()
    assert isinstance(event, ServiceConfirmed)
    record = record.after([event])
    assert record.status is ServiceStatus.ACTIVE
    with pytest.raises(Conflict):
        record.confirm()


def test_revising_a_carried_record_completes_its_check_and_shows_what_changed() -> None:
    record, _ = carried()
    (event,) = record.revise({"client_group.age_max": 13, "contact.email": "salt@example.org"})
    assert isinstance(event, ServiceRevised)
    assert event.changes[-1].field == "status"
    assert (event.changes[-1].old, event.changes[-1].new) == ("to-be-checked", "active")
    record = record.after([event])
    assert record.status is ServiceStatus.ACTIVE
    since = {c.field: (c.old, c.new) for c in record.changes_since_last_year()}
    assert since == {
        "client_group.age_max": (11, 13),
        "contact.email": ("pat.jones@example.nhs.uk", "salt@example.org"),
    }


def test_a_record_rebuilds_from_its_events_as_stored() -> None:
    record, carried_event = carried()
    events = [carried_event, *record.revise({"name": "SALT"})]
    record = record.after(events[1:])
    # As a store would give them back: JSON, then the registered payload class.
    stored = [
        payload_class(e.EVENT_TYPE, e.VERSION).model_validate(e.model_dump(mode="json"))
        for e in events
    ]
    again = ServiceRecord.from_history(record.service_id, stored)
    assert again == record
    assert stream_id_for(record.service_id) == again.stream_id
