"""A signed-off return settles its services, without I/O: the consumer's copy of sign-offs and
reopenings (idempotent, in the return's own order) and every directory command refused while
the provider's return for the record's cycle is signed off, and allowed again once reopened.
Against real PostgreSQL and the broker: `test_directory_http.py` ("signed-off returns")."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.cycles import ReturnReopened
from csm_contracts.events.directory import ServiceStatus, ServiceType
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_contracts.registry import EventPayload
from csm_kernel.errors import Conflict
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from registration.adapters.directory_memory import InMemoryDirectory
from registration.application import directory as uc
from registration.application.directory import Scope
from registration.application.service_import import import_services
from registration.domain.returns import ReturnSignedOff, SignedOffReturn
from registration.domain.service_import import ServiceLine
from registration.domain.service_record import ServiceDetails, carried_forward_id
from registration.entrypoints.consumers import handler_table

CTX = AppendContext(actor="user:test")
ADMIN = Scope(everything=True, can_write=True)
CYCLE = "2009-10"
#: 1 March 2010, 14:30 UTC (GMT, so 2:30pm in England too).
SIGNED_AT = datetime(2010, 3, 1, 14, 30, tzinfo=UTC)


def lead(org: str) -> Scope:
    return Scope(can_write=True, organisation_id=org)


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
    return InMemoryDirectory(store)


def envelope(event: EventPayload, return_version: int) -> EventEnvelope:
    """`event` as the consumer receives it, at `return_version` of its return's stream."""
    cycle, organisation = event.cycle, event.organisation_id  # type: ignore[attr-defined]
    return EventEnvelope.trusted(
        event_id=uuid.uuid4(),
        type=event.EVENT_TYPE,
        version=event.VERSION,
        occurred_at=datetime.now(UTC),
        stream_id=f"return-{cycle}-{organisation}",
        stream_version=return_version,
        key=organisation,
        correlation_id="c",
        actor="service:questionnaire",
        data=event.model_dump(mode="json"),
        prev_hash="0" * 64,
        hash="0" * 64,
    )


def signed_off(org: str = "5A4", cycle: str = CYCLE, at: datetime = SIGNED_AT) -> CycleSignedOff:
    return CycleSignedOff(
        organisation_id=org,
        cycle=cycle,
        signed_off_at=at,
        signed_off_by="user:lead",
        questionnaires_submitted=1,
    )


def reopened(org: str = "5A4", cycle: str = CYCLE) -> ReturnReopened:
    return ReturnReopened(
        organisation_id=org, cycle=cycle, reason="a service was missed", was_signed_off_at=None
    )


async def deliver(directory: InMemoryDirectory, event: EventPayload, return_version: int) -> None:
    """Hand `event` to the consumer's handler, as the questionnaire topic's consumer does."""
    handlers = handler_table(directory).handlers()
    await handlers[event.EVENT_TYPE](None, envelope(event, return_version), event)  # type: ignore[arg-type]


async def settled(directory: InMemoryDirectory, org: str = "5A4") -> list[SignedOffReturn]:
    return await directory.signed_off([(CYCLE, org)])


# --- the consumer's copy ----------------------------------------------------------------------


async def test_a_sign_off_is_recorded_and_a_reopening_clears_it(
    directory: InMemoryDirectory,
) -> None:
    await deliver(directory, signed_off(), 3)
    assert await settled(directory) == [SignedOffReturn(CYCLE, "5A4", SIGNED_AT)]
    assert await settled(directory, "00BR") == []  # another organisation's return
    assert await directory.signed_off([("2010-11", "5A4")]) == []  # another cycle's

    await deliver(directory, reopened(), 4)
    assert await settled(directory) == []

    # Signed off again after the reopening: settled again, at the new time.
    again = datetime(2010, 3, 20, 9, 5, tzinfo=UTC)
    await deliver(directory, signed_off(at=again), 5)
    assert await settled(directory) == [SignedOffReturn(CYCLE, "5A4", again)]


async def test_applying_an_event_twice_or_an_older_one_late_changes_nothing(
    directory: InMemoryDirectory,
) -> None:
    await deliver(directory, signed_off(), 3)
    await deliver(directory, signed_off(), 3)  # the same event again
    assert await settled(directory) == [SignedOffReturn(CYCLE, "5A4", SIGNED_AT)]

    await deliver(directory, reopened(), 4)
    await deliver(directory, signed_off(), 3)  # the sign-off the reopening undid, late
    assert await settled(directory) == []

    await deliver(directory, reopened(), 2)  # an older reopening, before this sign-off
    await deliver(directory, signed_off(), 6)
    await deliver(directory, reopened(), 2)
    assert await settled(directory) == [SignedOffReturn(CYCLE, "5A4", SIGNED_AT)]


# --- the commands, refused while signed off ---------------------------------------------------


async def _carried(directory: InMemoryDirectory) -> uuid.UUID:
    """A record carried into CYCLE, to be checked (its lead confirms, revises or withdraws it)."""
    last_year = await uc.register_service(directory, ADMIN, "2008-09", details(), CTX)
    await uc.carry_forward(directory, CYCLE, None, CTX)
    return carried_forward_id(last_year.service_id, CYCLE)


def _line(n: int, **overrides: Any) -> ServiceLine:
    return ServiceLine(n, CYCLE, details(**overrides))


def _command(
    directory: InMemoryDirectory, scope: Scope, command: str, service_id: uuid.UUID
) -> Callable[[], Awaitable[Any]]:
    """`command` by `scope`, on the carried record `service_id` where it takes a record."""
    if command == "register":
        return lambda: uc.register_service(directory, scope, CYCLE, details(name="New"), CTX)
    if command in ("import", "import dry run"):
        return lambda: import_services(
            directory, scope, [_line(1, name="Imported")], [], CTX, dry_run=command != "import"
        )
    if command == "confirm":
        return lambda: uc.confirm_service(directory, scope, service_id, 1, CTX)
    if command == "revise":
        change = {"client_group.age_max": 17}
        return lambda: uc.revise_service(directory, scope, service_id, 1, change, CTX)
    assert command == "withdraw"
    return lambda: uc.withdraw_service(directory, scope, service_id, 1, "closed", CTX)


COMMANDS = ["register", "confirm", "revise", "withdraw", "import", "import dry run"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("who", ["lead", "national admin"])
async def test_every_change_is_refused_while_the_return_is_signed_off(
    directory: InMemoryDirectory, command: str, who: str
) -> None:
    service_id = await _carried(directory)
    await deliver(directory, signed_off(), 3)
    scope = lead("5A4") if who == "lead" else ADMIN
    before = dict(directory.rows)

    with pytest.raises(ReturnSignedOff) as refused:
        await _command(directory, scope, command, service_id)()

    assert isinstance(refused.value, Conflict)  # 409
    what = (
        "no services can be added to it"
        if command in ("register", "import", "import dry run")
        else "its services cannot be confirmed, revised or withdrawn"
    )
    assert refused.value.message == (
        f"The 2009-10 return of 5A4 was signed off on 1 March 2010 at 2:30pm, so {what}. "
        "If something needs changing, ask the national mapping team to reopen the return."
    )
    assert refused.value.details[0]["cycle"] == CYCLE
    assert refused.value.details[0]["organisation_id"] == "5A4"
    assert directory.rows == before  # nothing written
    assert await directory.store.stream_version(f"service-{service_id}") == 1


@pytest.mark.parametrize("command", COMMANDS)
async def test_every_change_is_allowed_again_once_the_return_is_reopened(
    directory: InMemoryDirectory, command: str
) -> None:
    service_id = await _carried(directory)
    await deliver(directory, signed_off(), 3)
    await deliver(directory, reopened(), 4)

    result = await _command(directory, lead("5A4"), command, service_id)()

    if command == "import":
        assert result.registered == 1
    elif command == "import dry run":
        assert result.registered == 1 and result.dry_run
    elif command == "withdraw":
        assert result.status is ServiceStatus.WITHDRAWN
    else:
        assert result.status is ServiceStatus.ACTIVE


async def test_only_the_providers_return_for_the_records_cycle_counts(
    directory: InMemoryDirectory,
) -> None:
    # A commissioner's sign-off, or the provider's for another cycle, settles nothing here.
    await deliver(directory, signed_off(org="00BR"), 1)
    await deliver(directory, signed_off(cycle="2008-09"), 1)
    record = await uc.register_service(directory, lead("5A4"), CYCLE, details(), CTX)
    assert record.exists
    # Another provider's service is not held up by 5A4's sign-off either.
    await deliver(directory, signed_off(), 3)
    other = await uc.register_service(
        directory, ADMIN, CYCLE, details(provider_id="RX1", commissioner_ids=()), CTX
    )
    assert other.exists
    with pytest.raises(ReturnSignedOff):
        await uc.withdraw_service(directory, ADMIN, record.service_id, 1, "gone", CTX)


async def test_an_import_naming_several_signed_off_returns_lists_each(
    directory: InMemoryDirectory,
) -> None:
    await deliver(directory, signed_off(), 3)
    await deliver(directory, signed_off(org="RX1"), 2)
    lines = [
        _line(1, name="A"),
        _line(2, name="B", provider_id="RX1", commissioner_ids=()),
        _line(3, name="C", provider_id="00BR", commissioner_ids=()),
    ]
    with pytest.raises(ReturnSignedOff) as refused:
        await import_services(directory, ADMIN, lines, [], CTX)
    assert refused.value.message.startswith("The 2009-10 return of 5A4 was signed off on")
    assert "(1 more signed-off returns: see details)" in refused.value.message
    assert [d["organisation_id"] for d in refused.value.details] == ["5A4", "RX1"]
    assert directory.rows == {}


async def test_a_file_registered_already_is_still_answered_after_sign_off(
    directory: InMemoryDirectory,
) -> None:
    """Importing again lines registered exactly as they are changes nothing: not refused."""
    lines = [_line(1, name="A")]
    await import_services(directory, ADMIN, lines, [], CTX)
    await deliver(directory, signed_off(), 3)
    again = await import_services(directory, ADMIN, lines, [], CTX)
    assert (again.registered, again.unchanged) == (0, 1)
