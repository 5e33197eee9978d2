"""Bulk import of services without I/O: the CSV file read cell by cell, and the use case on the
in-memory directory (every bad line named; a dry run writes nothing; duplicates in the file and
against the directory; a retried import registers nothing twice; a lead's own services only)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.directory import ServiceType
from csm_kernel.errors import Forbidden
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from registration.adapters.directory_memory import InMemoryDirectory
from registration.application import directory as uc
from registration.application.directory import Scope
from registration.application.service_import import import_services
from registration.domain.service_import import (
    COLUMNS,
    BadImport,
    ServiceLine,
    imported_service_id,
    parse_csv,
)
from registration.domain.service_record import ServiceDetails

CTX = AppendContext(actor="user:test")
ADMIN = Scope(everything=True, can_write=True)
AUDITOR = Scope(everything=True, can_write=False)
HEADER = ",".join(COLUMNS)


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


def line(n: int, **overrides: Any) -> ServiceLine:
    return ServiceLine(n, "2009-10", details(**overrides))


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
    directory.groups = {"north": "5A4", "east": "RX1"}
    return directory


def problems(raised: pytest.ExceptionInfo[BadImport]) -> list[tuple[int, str]]:
    return [(p.line, p.field) for p in raised.value.problems]


# --- the CSV file ---------------------------------------------------------------------------


def test_a_csv_line_reads_as_the_service_it_describes() -> None:
    data = (
        "\ufeff" + HEADER + "\r\n"
        '2009-10,5A4,Tier 3 CAMHS,"Clinic, and outreach",Specialist,0,18,'
        "mental health; eating disorders,yes,3,north,00BR;RX1,Pat Jones,pat@example.nhs.uk,"
        "0161 555 0101,\r\n"
        ",,,,,,,,,,,,,,,\r\n"
        "2009-10,RX1,Portage,,targeted,0,5,,,,,,Al,al@example.org,,"
        "0b5ad1a2-9f1c-4e0e-8a53-1d2c3b4a5f60\r\n"
    ).encode()
    parsed = parse_csv(data, max_rows=10)
    assert parsed.problems == [] and parsed.count == 2
    first, second = parsed.lines
    assert first.line == 2 and first.cycle == "2009-10"
    assert first.details == ServiceDetails(
        name="Tier 3 CAMHS",
        description="Clinic, and outreach",
        service_type=ServiceType.SPECIALIST,
        age_min=0,
        age_max=18,
        needs=("mental health", "eating disorders"),
        camhs=True,
        camhs_tier=3,
        group_id="north",
        provider_id="5A4",
        commissioner_ids=("00BR", "RX1"),
        contact_name="Pat Jones",
        contact_email="pat@example.nhs.uk",
        contact_phone="0161 555 0101",
    )
    assert second.line == 4 and not second.details.camhs and second.details.needs == ()
    assert second.service_id == uuid.UUID("0b5ad1a2-9f1c-4e0e-8a53-1d2c3b4a5f60")


def test_cells_that_are_not_values_are_named_by_line_and_column() -> None:
    data = (
        b"cycle,provider_id,name,service_type,age_min,age_max,camhs,camhs_tier,contact_name,"
        b"contact_email,service_id\n"
        b"2009-10,5A4,A,castle,1,2,,,C,c@d.org,\n"
        b"2009-10,5A4,B,targeted,one,99999999999999999999999,maybe,2.5,C,c@d.org,not-a-uuid\n"
        b"2009-10,5A4,,targeted,1,2,,,C,,\n"
    )
    parsed = parse_csv(data, max_rows=10)
    got = {(p.line, p.field): p.reason for p in parsed.problems}
    assert list(got) == [
        (2, "service_type"),
        (3, "age_min"),
        (3, "age_max"),
        (3, "camhs"),
        (3, "camhs_tier"),
        (3, "service_id"),
        (4, "name"),
        (4, "contact_email"),
    ]
    assert "'castle' is not a type of service: use one of universal" in got[2, "service_type"]
    assert "far too large" in got[3, "age_max"]
    assert "not a whole number" in got[3, "age_min"]
    assert parsed.lines == [] and parsed.count == 3


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"cycle,name\n", "missing column(s)"),
        (HEADER.encode() + b",colour\n", "unknown column(s) 'colour'"),
        (HEADER.encode() + b"\n2009-10,\x00\n", "NUL"),
        (HEADER.encode() + b"\n2009-10,caf\xe9\n", "not UTF-8"),
        (b"", "empty"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(data: bytes, words: str) -> None:
    with pytest.raises(BadImport) as raised:
        parse_csv(data, max_rows=10)
    assert words in raised.value.problems[0].reason


def test_a_file_over_the_row_limit_is_refused() -> None:
    row = "2009-10,5A4,A,universal,1,2,,,,,,,C,c@d.org,,\n"
    with pytest.raises(BadImport, match="more than 2 rows"):
        parse_csv((HEADER + "\n" + row * 3).encode(), max_rows=2)


# --- the use case ---------------------------------------------------------------------------


async def test_every_bad_line_is_named_and_nothing_is_written(
    directory: InMemoryDirectory,
) -> None:
    await uc.register_service(directory, ADMIN, "2009-10", details(name="Already here"), CTX)
    lines = [
        line(2, name="Fine"),
        line(3, name="Three", age_min=10, age_max=2),
        line(4, name="Four", camhs=True),
        line(5, name="Five", camhs_tier=2),
        line(6, name="Six", camhs=True, camhs_tier=7),
        line(7, name="Seven", provider_id="NOPE1"),
        line(8, name="fine "),  # the same service as line 2: case and spacing forgiven
        line(9, name="Already here", age_max=17),  # registered with other details
        line(10, name="Ten", group_id="east"),  # RX1's group, not 5A4's or 00BR's
        line(11, name="Eleven", age_min=-1, age_max=40),
    ]
    with pytest.raises(BadImport) as raised:
        await import_services(directory, ADMIN, lines, [], CTX)
    assert problems(raised) == [
        (3, "client_group.age_min"),
        (4, "camhs_tier"),
        (5, "camhs_tier"),
        (6, "camhs_tier"),
        (7, "provider_id"),
        (8, "name"),
        (9, "name"),
        (10, "group_id"),
        (11, "client_group.age_max"),
        (11, "client_group.age_min"),
    ]
    reasons = {(p.line, p.field): p.reason for p in raised.value.problems}
    assert "already on line 2" in reasons[8, "name"]
    assert "already has a service called 'Already here'" in reasons[9, "name"]
    assert "nothing was imported" in raised.value.message
    assert len(directory.rows) == 1


async def test_a_dry_run_writes_nothing_and_the_import_then_registers_each_once(
    directory: InMemoryDirectory,
) -> None:
    lines = [line(2, name="One"), line(3, name="Two", camhs=True, camhs_tier=2)]
    checked = await import_services(directory, ADMIN, lines, [], CTX, dry_run=True)
    assert (checked.registered, checked.unchanged, checked.dry_run) == (2, 0, True)
    assert directory.rows == {}

    done = await import_services(directory, ADMIN, lines, [], CTX)
    assert (done.registered, done.unchanged) == (2, 0)
    assert done.service_ids == checked.service_ids  # the ids are derived from the services
    assert done.service_ids[0] == imported_service_id("2009-10", lines[0].details)
    assert set(directory.rows) == set(done.service_ids)

    # A retried confirmation: the same file again registers nothing and answers the same ids.
    again = await import_services(directory, ADMIN, lines, [], CTX)
    assert (again.registered, again.unchanged) == (0, 2)
    assert again.service_ids == done.service_ids
    assert len(directory.rows) == 2


async def test_a_line_the_same_as_a_service_registered_by_hand_is_left_alone(
    directory: InMemoryDirectory,
) -> None:
    by_hand = await uc.register_service(directory, ADMIN, "2009-10", details(), CTX)
    result = await import_services(directory, ADMIN, [line(2), line(3, name="New")], [], CTX)
    assert (result.registered, result.unchanged) == (1, 1)
    assert result.service_ids[0] == by_hand.service_id


async def test_a_withdrawn_service_is_not_registered_again_under_its_old_id(
    directory: InMemoryDirectory,
) -> None:
    (first,) = (await import_services(directory, ADMIN, [line(2)], [], CTX)).service_ids
    await uc.withdraw_service(directory, ADMIN, first, 1, "closed", CTX)
    with pytest.raises(BadImport) as raised:
        await import_services(directory, ADMIN, [line(2)], [], CTX)
    assert "withdrawn" in raised.value.problems[0].reason


async def test_a_lead_imports_only_their_own_organisations_services(
    directory: InMemoryDirectory,
) -> None:
    lead = Scope(can_write=True, organisation_id="RX1")
    lines = [line(2, provider_id="RX1", commissioner_ids=()), line(3, name="Not theirs")]
    with pytest.raises(BadImport) as raised:
        await import_services(directory, lead, lines, [], CTX)
    assert problems(raised) == [(3, "provider_id")]
    result = await import_services(directory, lead, lines[:1], [], CTX)
    assert result.registered == 1
    with pytest.raises(Forbidden):
        await import_services(directory, AUDITOR, lines[:1], [], CTX, dry_run=True)
