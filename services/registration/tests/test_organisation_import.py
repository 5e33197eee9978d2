"""The bulk import without a database: reading the CSV, planning the events, and the use case
over the in-memory repository (all or nothing, idempotent)."""

from __future__ import annotations

import pytest

from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_contracts.events.registration import (
    OrganisationLinked,
    OrganisationRenamed,
    PartnershipAreasChanged,
)
from csm_kernel.errors import Conflict
from csm_kernel.store import AppendContext
from registration.adapters.organisations_memory import InMemoryOrganisations
from registration.application.organisation_import import import_organisations
from registration.application.organisations import register_organisation, update_organisation
from registration.domain.commands import RegisterOrganisation
from registration.domain.organisation import Organisation, stream_id_for
from registration.domain.organisation_import import BadImport, parse, plan, referenced_codes

HEADER = "code,name,kind,region,partnership_areas,linked_organisation_id,mapped_by\n"
CTX = AppendContext(actor="user:admin")


def csv(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode()


GOOD = csv(
    "LA383,Leeds City Council,local-authority,yorkshire-and-the-humber,,,",
    "RX1,Leeds Community Healthcare,nhs-trust-community,yorkshire-and-the-humber,LA383,,",
    "5NC,Leeds PCT Commissioning,pct-commissioning,yorkshire-and-the-humber,LA383,5NP,",
    "5NP,Leeds PCT Provider,pct-provider,yorkshire-and-the-humber,LA383,5NC,",
    "NX1,Barnardo's Leeds,third-sector,yorkshire-and-the-humber,LA383,,5NC",
)


def problems(raised: pytest.ExceptionInfo[BadImport]) -> list[tuple[int, str]]:
    return [(p.line, p.field) for p in raised.value.problems]


def reasons(raised: pytest.ExceptionInfo[BadImport]) -> dict[tuple[int, str], str]:
    return {(p.line, p.field): p.reason for p in raised.value.problems}


def plan_of(data: bytes, current: dict[str, Organisation] | None = None) -> object:
    parsed = parse(data, max_rows=1000)
    return plan(parsed, current or {})


# --- reading the file -------------------------------------------------------------------------


def test_a_good_file_reads_as_one_command_per_row_with_its_line() -> None:
    parsed = parse(GOOD, max_rows=100)

    assert parsed.problems == []
    assert [(r.line, r.code) for r in parsed.rows] == [
        (2, "LA383"),
        (3, "RX1"),
        (4, "5NC"),
        (5, "5NP"),
        (6, "NX1"),
    ]
    nx1 = parsed.rows[4].command
    assert nx1 == RegisterOrganisation(
        code="NX1",
        name="Barnardo's Leeds",
        kind=OrganisationKind.THIRD_SECTOR,
        region=Region.YORKSHIRE_AND_THE_HUMBER,
        partnership_areas=("LA383",),
        linked_organisation_id=None,
        mapped_by="5NC",
    )


def test_bom_blank_lines_spaces_any_column_order_and_friendly_values_are_accepted() -> None:
    data = (
        "\ufeff Region , Code,NAME,kind,Partnership Areas\r\n"
        "\r\n"
        "Yorkshire and the Humber, RX1 ,  Leeds Trust  ,NHS_Trust_Acute, LA1; LA2 LA3\r\n"
        ",,,,\r\n"
        'london,RX2,"Trust, with a comma",nhs-trust-acute,\r\n'
    ).encode()

    parsed = parse(data, max_rows=100)

    assert parsed.problems == []
    assert [(r.line, r.code) for r in parsed.rows] == [(3, "RX1"), (5, "RX2")]
    first = parsed.rows[0].command
    assert first is not None
    assert first.name == "Leeds Trust"
    assert first.kind is OrganisationKind.NHS_TRUST_ACUTE
    assert first.region is Region.YORKSHIRE_AND_THE_HUMBER
    assert first.partnership_areas == ("LA1", "LA2", "LA3")
    second = parsed.rows[1].command
    assert second is not None and second.name == "Trust, with a comma"


def test_a_quoted_name_over_two_lines_is_reported_at_the_line_it_starts() -> None:
    data = csv('RX1,"Two\nLines",bad-kind,london,,,', "RX2,Fine,pct,london,,,")

    parsed = parse(data, max_rows=100)

    assert [(p.line, p.field) for p in parsed.problems] == [(2, "kind")]
    assert [r.line for r in parsed.rows] == [2, 4]


def test_every_bad_cell_is_reported_with_its_line_and_field() -> None:
    data = csv(
        "rx1,,hospital,wales,la1;LA2,TOOLONG,5",
        "RX2,Fine,pct,london,,,",
    )

    parsed = parse(data, max_rows=100)

    found = {(p.line, p.field): p.reason for p in parsed.problems}
    assert set(found) == {
        (2, "code"),
        (2, "name"),
        (2, "kind"),
        (2, "region"),
        (2, "partnership_areas"),
        (2, "linked_organisation_id"),
        (2, "mapped_by"),
    }
    assert "'rx1' is not an organisation code" in found[(2, "code")]
    assert found[(2, "name")] == "must not be empty"
    assert "'hospital' is not a kind of organisation" in found[(2, "kind")]
    assert "'wales' is not an English region" in found[(2, "region")]
    assert "north-east" in found[(2, "region")]
    assert "'la1'" in found[(2, "partnership_areas")]
    assert parsed.rows[0].command is None
    assert parsed.rows[1].command is not None


def test_a_row_with_more_cells_than_the_header_is_reported() -> None:
    parsed = parse(csv("RX1,Leeds, Trust,pct,london,LA1,5NA,5NB"), max_rows=100)

    assert [(p.line, p.field) for p in parsed.problems] == [(2, "row")]
    assert "unquoted comma" in parsed.problems[0].reason


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("code,name,kind\n", ["missing column(s) region"]),
        ("code,name,kind,region,colour\n", ["unknown column(s) 'colour'"]),
        ("code,name,kind,region,name\n", ["named twice: name"]),
        ("RX1,Leeds,pct,london\n", ["missing column(s) code, name, kind, region"]),
    ],
    ids=["missing", "unknown", "twice", "no-header"],
)
def test_a_wrong_header_refuses_the_file_with_a_clear_reason(header: str, words: list[str]) -> None:
    with pytest.raises(BadImport) as raised:
        parse(csv("RX1,Leeds,pct,london", header=header), max_rows=100)

    assert "header" in raised.value.message
    assert all(p.line == 1 and p.field == "header" for p in raised.value.problems)
    text = " ".join(p.reason for p in raised.value.problems)
    for word in words:
        assert word in text
    assert raised.value.status_code == 422


def test_the_header_line_is_the_first_non_blank_one() -> None:
    with pytest.raises(BadImport) as raised:
        parse(b"\n\ncode,name\n", max_rows=100)

    assert [p.line for p in raised.value.problems] == [3]


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(BadImport, match="empty"):
        parse(b"", max_rows=100)
    with pytest.raises(BadImport, match="empty"):
        parse(b"\xef\xbb\xbf\n  \n", max_rows=100)


def test_a_file_that_is_not_utf8_is_refused_naming_the_line() -> None:
    data = csv("RX1,Leeds,pct,london,,,").replace(b"Leeds", b"L\xe9eds")

    with pytest.raises(BadImport) as raised:
        parse(data, max_rows=100)

    assert problems(raised) == [(2, "file")]
    assert "UTF-8" in raised.value.problems[0].reason


def test_a_binary_file_is_refused() -> None:
    with pytest.raises(BadImport, match="not a CSV text file"):
        parse(b"code,name\x00,kind\n", max_rows=100)


def test_too_many_rows_are_refused() -> None:
    data = csv(*(f"RX{i},Trust {i},pct,london,,," for i in range(1, 5)))

    assert len(parse(data, max_rows=4).rows) == 4
    with pytest.raises(BadImport, match="more than 3 rows"):
        parse(data, max_rows=3)


def test_optional_columns_may_be_left_out() -> None:
    parsed = parse(b"code,name,kind,region\nRX1,Leeds,pct,london\n", max_rows=10)

    (row,) = parsed.rows
    assert row.command is not None
    assert row.command.partnership_areas == ()
    assert row.command.mapped_by is None


def test_referenced_codes_are_the_rows_and_what_they_name() -> None:
    assert referenced_codes(parse(GOOD, max_rows=100)) == {"LA383", "RX1", "5NC", "5NP", "NX1"}
    extra = parse(csv("NX1,P,third-sector,london,LB1,,5NT"), max_rows=10)
    assert referenced_codes(extra) == {"NX1", "LB1", "5NT"}


# --- planning ---------------------------------------------------------------------------------


def test_a_new_file_registers_everything_leads_before_the_providers_they_map() -> None:
    planned = plan(parse(GOOD, max_rows=100), {})

    assert planned.registered == ["LA383", "RX1", "5NC", "5NP", "NX1"]
    assert planned.changed == planned.unchanged == []
    assert [c.code for c in planned.changes] == ["LA383", "RX1", "5NC", "5NP", "NX1"]
    assert all(c.expected_version == 0 for c in planned.changes)
    assert planned.event_count == 5
    by_code = {c.code: c.after() for c in planned.changes}
    assert by_code["5NC"].linked_organisation_id == "5NP"
    assert by_code["5NP"].linked_organisation_id == "5NC"
    assert by_code["NX1"].mapped_by == "5NC"
    assert by_code["LA383"].partnership_areas == ["LA383"]


def test_a_provider_before_its_lead_in_the_file_is_registered_after_it() -> None:
    data = csv(
        "NX1,Provider,private-provider,london,,,5NT",
        "5NT,Lead PCT,pct,london,,,",
    )

    planned = plan(parse(data, max_rows=10), {})

    assert [c.code for c in planned.changes] == ["5NT", "NX1"]


def test_one_blank_side_of_a_pair_in_the_file_is_read_as_the_mutual_link() -> None:
    data = csv(
        "5NC,Commissioning,pct-commissioning,london,,5NP,",
        "5NP,Provider,pct-provider,london,,,",
    )

    planned = plan(parse(data, max_rows=10), {})

    by_code = {c.code: c.after() for c in planned.changes}
    assert by_code["5NP"].linked_organisation_id == "5NC"


def test_a_link_to_a_registered_unlinked_part_links_it_back() -> None:
    existing = Organisation(code="5NC")
    existing = existing.evolved(
        existing.register(
            RegisterOrganisation(
                "5NC", "Commissioning", OrganisationKind.PCT_COMMISSIONING, Region.LONDON
            )
        )
    )

    planned = plan(
        parse(csv("5NP,Provider,pct-provider,london,,5NC,"), max_rows=10), {"5NC": existing}
    )

    assert planned.registered == ["5NP"]
    assert planned.changed == ["5NC"]
    assert [(c.code, c.expected_version) for c in planned.changes] == [("5NP", 0), ("5NC", 1)]
    assert planned.changes[1].events == (
        OrganisationLinked(organisation_id="5NC", linked_organisation_id="5NP"),
    )


def test_mismatched_links_in_the_file_are_reported_on_the_row_that_names_them() -> None:
    data = csv(
        "5NC,Commissioning,pct-commissioning,london,,5NP,",
        "5NP,Provider,pct-provider,london,,5NX,",
        "5NX,Other,pct-commissioning,london,,5NP,",
    )

    with pytest.raises(BadImport) as raised:
        plan(parse(data, max_rows=10), {})

    assert reasons(raised) == {
        (2, "linked_organisation_id"): "5NP (line 3) is linked to 5NX, not to 5NC",
    }


def test_references_to_unknown_organisations_are_reported() -> None:
    data = csv(
        "NX1,Provider,third-sector,london,,,5ZZ",
        "5NP,Provider,pct-provider,london,,5ZY,",
    )

    with pytest.raises(BadImport) as raised:
        plan(parse(data, max_rows=10), {})

    assert reasons(raised) == {
        (2, "mapped_by"): "no organisation with code 5ZZ is registered",
        (3, "linked_organisation_id"): (
            "no organisation with code 5ZY is registered: register the other part first, or "
            "both parts in one import"
        ),
    }


def test_a_reference_to_a_bad_row_is_not_reported_twice() -> None:
    data = csv(
        "5NT,,pct,london,,,",
        "NX1,Provider,third-sector,london,,,5NT",
    )

    with pytest.raises(BadImport) as raised:
        plan(parse(data, max_rows=10), {})

    assert problems(raised) == [(2, "name")]


def test_a_code_twice_in_the_file_is_reported_on_the_second_line() -> None:
    data = csv("RX1,One,pct,london,,,", "RX2,Two,pct,london,,,", "RX1,Again,pct,london,,,")

    with pytest.raises(BadImport) as raised:
        plan(parse(data, max_rows=10), {})

    assert reasons(raised) == {(4, "code"): "RX1 is already on line 2"}


def test_rows_equal_to_the_current_state_plan_nothing() -> None:
    first = plan(parse(GOOD, max_rows=100), {})
    current = {c.code: c.after() for c in first.changes}

    again = plan(parse(GOOD, max_rows=100), current)

    assert again.changes == []
    assert again.registered == again.changed == []
    assert again.unchanged == ["LA383", "RX1", "5NC", "5NP", "NX1"]


def test_changed_rows_plan_only_the_differences() -> None:
    first = plan(parse(GOOD, max_rows=100), {})
    current = {c.code: c.after() for c in first.changes}
    edited = GOOD.replace(b"Leeds Community Healthcare", b"Leeds Community NHS Trust").replace(
        b"LA383,5NP,", b"LA383;LB1,5NP,"
    )

    planned = plan(parse(edited, max_rows=100), current)

    assert planned.changed == ["RX1", "5NC"]
    assert planned.registered == []
    changes = {c.code: c for c in planned.changes}
    assert [type(e) for e in changes["RX1"].events] == [OrganisationRenamed]
    assert [type(e) for e in changes["5NC"].events] == [PartnershipAreasChanged]
    assert changes["RX1"].expected_version == 1


def test_immutable_differences_are_problems() -> None:
    first = plan(parse(GOOD, max_rows=100), {})
    current = {c.code: c.after() for c in first.changes}
    edited = GOOD.replace(
        b"nhs-trust-community,yorkshire-and-the-humber", b"nhs-trust-acute,london"
    )

    with pytest.raises(BadImport) as raised:
        plan(parse(edited, max_rows=100), current)

    assert problems(raised) == [(3, "kind"), (3, "region")]


def test_problems_of_all_rows_come_back_sorted_by_line() -> None:
    data = csv(
        "RX3,Three,pct,london,,,",
        "RX1,One,pct,atlantis,,,",
        "NX1,Provider,third-sector,london,,,",
    )

    with pytest.raises(BadImport) as raised:
        plan(parse(data, max_rows=10), {})

    assert problems(raised) == [(3, "region"), (4, "mapped_by")]
    assert raised.value.message.startswith("2 rows have problems, so nothing was imported")
    assert raised.value.details[0] == {
        "line": 3,
        "field": "region",
        "reason": raised.value.problems[0].reason,
    }


# --- the use case over the in-memory repository ---------------------------------------------


async def test_importing_the_same_file_twice_changes_nothing_the_second_time() -> None:
    repo = InMemoryOrganisations()

    first = await import_organisations(repo, GOOD, CTX)
    position = await repo.store.max_position()
    second = await import_organisations(repo, GOOD, CTX)

    assert first.registered == ["LA383", "RX1", "5NC", "5NP", "NX1"]
    assert first.events == 5
    assert second.registered == second.changed == []
    assert second.events == 0
    assert len(second.unchanged) == 5
    assert await repo.store.max_position() == position == 5
    (event,) = await repo.store.read_stream(stream_id_for("NX1"))
    assert event.type == OrganisationRegistered.EVENT_TYPE
    assert event.actor == "user:admin"


async def test_a_file_with_one_bad_row_writes_nothing() -> None:
    repo = InMemoryOrganisations()
    bad = GOOD.replace(b"Leeds Community Healthcare,nhs-trust-community", b",nhs-trust-community")

    with pytest.raises(BadImport) as raised:
        await import_organisations(repo, bad, CTX)

    assert problems(raised) == [(3, "name")]
    assert await repo.store.max_position() == 0
    assert repo.listed == {}


async def test_a_dry_run_reports_without_writing() -> None:
    repo = InMemoryOrganisations()

    result = await import_organisations(repo, GOOD, CTX, dry_run=True)

    assert result.dry_run
    assert result.registered == ["LA383", "RX1", "5NC", "5NP", "NX1"]
    assert await repo.store.max_position() == 0


async def test_an_import_racing_a_change_writes_nothing_and_says_import_again() -> None:
    repo = InMemoryOrganisations()
    await import_organisations(repo, GOOD, CTX)

    class Racing(InMemoryOrganisations):
        async def load_many(self, codes):  # type: ignore[no-untyped-def]
            found = await super().load_many(codes)
            # Someone renames RX1 after the import read it.
            await update_organisation(repo, "RX1", 1, CTX, name="Meanwhile")
            return found

    racing = Racing(repo.store)
    racing.listed = repo.listed
    edited = GOOD.replace(b"Leeds PCT Provider", b"Leeds Community Services")
    position = await repo.store.max_position()

    with pytest.raises(Conflict, match=r"organisation RX1 changed .* import the file again"):
        await import_organisations(racing, edited.replace(b"Healthcare", b"Care"), CTX)

    # Only the rename that won the race was written, not the import's change to 5NP.
    assert await repo.store.max_position() == position + 1
    assert (await repo.load("5NP")).name == "Leeds PCT Provider"


async def test_an_import_row_may_refer_to_an_organisation_registered_before() -> None:
    repo = InMemoryOrganisations()
    await register_organisation(
        repo, RegisterOrganisation("5NT", "Lead PCT", OrganisationKind.PCT, Region.LONDON), CTX
    )

    result = await import_organisations(
        repo, csv("NX1,Provider,private-provider,london,,,5NT"), CTX
    )

    assert result.registered == ["NX1"]
    assert (await repo.load("NX1")).mapped_by == "5NT"


def test_broken_quoting_is_reported_at_its_line_and_refuses_the_file() -> None:
    data = csv("RX1,Fine,pct,london,,,", 'RX2,"Leeds"x,pct,london,,,', "RX3,Fine,pct,london,,,")

    parsed = parse(data, max_rows=10)

    assert [(p.line, p.field) for p in parsed.problems] == [(3, "file")]
    assert "cannot be read as CSV" in parsed.problems[0].reason
    with pytest.raises(BadImport):
        plan(parsed, {})
