"""The aggregates are immutable state with a pure `evolve`: folding never changes a state in
place, a stream's first event makes the state from nothing, and folding through the kernel's
repository (upcasters applied) gives the state at the stream's version."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_contracts.events.directory import ServiceStatus, ServiceType
from csm_contracts.events.questionnaire import CycleOpened
from csm_contracts.events.registration import OrganisationRenamed
from csm_kernel.event_sourcing import Recorded
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from registration.adapters.directory_memory import InMemoryDirectory
from registration.adapters.event_streams import organisation_events, service_events
from registration.application.ports import NewRecord
from registration.domain import organisation, service_record
from registration.domain.organisation import Organisation
from registration.domain.service_record import ServiceDetails, ServiceRecord
from registration.entrypoints.consumers import handler_table

CTX = AppendContext(actor="user:test")
SID = uuid.UUID("00000000-0000-4000-8000-000000000001")
DETAILS = ServiceDetails(
    name="School nursing",
    description="",
    service_type=ServiceType.UNIVERSAL,
    age_min=5,
    age_max=16,
    provider_id="5A4",
    contact_name="Sam Lee",
    contact_email="sam.lee@example.nhs.uk",
)
REGISTERED = OrganisationRegistered(
    organisation_id="RX1",
    code="RX1",
    name="Leeds",
    kind=OrganisationKind.NHS_TRUST_COMMUNITY,
    region=Region.LONDON,
    partnership_areas=["LA1"],
)


def test_the_first_event_makes_an_organisation_from_nothing() -> None:
    org = organisation.evolve(None, REGISTERED)

    assert (org.code, org.version, org.name, org.partnership_areas) == ("RX1", 1, "Leeds", ["LA1"])


def test_evolving_leaves_the_state_it_started_from_alone() -> None:
    before = organisation.evolve(None, REGISTERED)
    renamed = OrganisationRenamed(organisation_id="RX1", old_name="Leeds", new_name="York")

    after = before.evolved([renamed])

    assert (before.name, before.version) == ("Leeds", 1)
    assert (after.name, after.version) == ("York", 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.name = "Changed"  # type: ignore[misc]


def test_a_service_record_is_made_from_its_first_event_and_never_changed_in_place() -> None:
    (event,) = ServiceRecord(service_id=SID).register("2009-10", DETAILS)
    record = service_record.evolve(None, event)
    (withdrawn,) = record.withdraw("gone")

    after = record.after([withdrawn])

    assert (record.service_id, record.version, record.status) == (SID, 1, ServiceStatus.ACTIVE)
    assert (after.version, after.status) == (2, ServiceStatus.WITHDRAWN)


def test_evolve_recorded_takes_the_version_the_stream_recorded() -> None:
    recorded = Recorded(
        payload=REGISTERED,
        stream_id="organisation-RX1",
        stream_version=1,
        occurred_at=datetime.now(UTC),
        actor="x",
    )

    assert organisation.evolve_recorded(None, recorded).version == 1


async def test_the_kernel_repository_folds_both_aggregates_streams() -> None:
    store = InMemoryEventStore()
    await store.append("organisation-RX1", 0, [NewEvent.from_payload(REGISTERED)], CTX)
    (event,) = ServiceRecord(service_id=SID).register("2009-10", DETAILS)
    await store.append(f"service-{SID}", 0, [NewEvent.from_payload(event)], CTX)

    org = await organisation_events(store).get("organisation-RX1")
    record = await service_events(store).get(f"service-{SID}")

    assert org == Organisation(
        code="RX1",
        version=1,
        name="Leeds",
        kind=OrganisationKind.NHS_TRUST_COMMUNITY,
        region=Region.LONDON,
        partnership_areas=["LA1"],
    )
    assert record == ServiceRecord(service_id=SID).after([event])


async def test_the_consumer_carries_services_forward_when_a_cycle_opens() -> None:
    store = InMemoryEventStore()
    provider = REGISTERED.model_copy(update={"organisation_id": "5A4", "code": "5A4"})
    await store.append("organisation-5A4", 0, [NewEvent.from_payload(provider)], CTX)
    directory = InMemoryDirectory(store)
    record = ServiceRecord(service_id=SID)
    events = record.register("2009-10", DETAILS)
    await directory.save_new(
        [NewRecord(record.after(events), events, ("LA1",))], CTX, skip_existing=False
    )
    handlers = handler_table(directory).handlers()
    opened = CycleOpened(cycle="2010-11", previous_cycle="2009-10", opened_at=datetime.now(UTC))
    envelope = EventEnvelope.trusted(
        event_id=uuid.uuid4(),
        type=CycleOpened.EVENT_TYPE,
        version=CycleOpened.VERSION,
        occurred_at=datetime.now(UTC),
        stream_id="cycle-2010-11",
        stream_version=1,
        key=opened.organisation_id,
        correlation_id="c",
        actor="x",
        data=opened.model_dump(mode="json"),
        prev_hash="0" * 64,
        hash="0" * 64,
    )

    await handlers[CycleOpened.EVENT_TYPE](None, envelope, opened)  # type: ignore[arg-type]

    carried = await directory.carried_from("2010-11")
    assert carried == {SID}
