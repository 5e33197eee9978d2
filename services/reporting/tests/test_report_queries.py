"""The report use case (`ReportQueries`) against in-memory fakes of its ports: which report,
which moment, who may read it, live or as-at, what the answer says it covers and what a file
is called. No database: the runner, the timetables and the files are fakes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csm_contracts.auth import Role
from csm_kernel.auth import Principal
from csm_kernel.clock import FixedClock
from csm_kernel.database import Connection
from csm_kernel.errors import Forbidden, InvalidInput, NotFound
from reporting.application.ports import JournalMoment, Subject, SubjectPage
from reporting.application.report_queries import (
    ReportAnswer,
    ReportFile,
    ReportParameters,
    ReportQueries,
)
from reporting.application.reports import (
    Column,
    Report,
    ReportRequest,
    ReportResult,
    Reports,
    Scope,
    Table,
)

NOW = datetime(2010, 3, 15, 12, 0, tzinfo=UTC)
BEGAN = datetime(2009, 10, 1, tzinfo=UTC)
SUMMARY = datetime(2010, 1, 11, tzinfo=UTC)
#: When the cycle clock recorded the move into summary reports (after the timetabled date).
SUMMARY_REACHED = datetime(2010, 1, 11, 0, 0, 2, tzinfo=UTC)
SIGNED = datetime(2010, 2, 20, 9, 30, tzinfo=UTC)
DATA_TIME = datetime(2010, 3, 15, 11, 59, tzinfo=UTC)


async def _never(conn: Connection, request: ReportRequest) -> ReportResult:
    raise AssertionError("the runner runs queries, not the use case")


def report(name: str, scope: Scope, **extra: Any) -> Report:
    return Report(
        name=name,
        title=name.capitalize(),
        description="",
        projections=("organisations",),
        scope=scope,
        query=_never,
        **extra,
    )


CATALOGUE = Reports(
    [
        report("national", Scope.NATIONAL),
        report("everyone", Scope.NATIONAL, needs_cycle=False),
        report("area", Scope.AREA),
        report("own", Scope.ORGANISATION),
        report("regional", Scope.REGION),
        report("national-only", Scope.NATIONAL, leads_may_read=False),
    ]
)


class FakeRunner:
    def __init__(self) -> None:
        self.live_asked: list[ReportRequest] = []
        self.as_at_asked: list[ReportRequest] = []

    def result(self) -> ReportResult:
        table = Table("services", "Services", [Column("name", "Name")], [{"name": "A"}])
        return ReportResult(tables=[table], summary={"services": 3}, about={"area_name": "Anytown"})

    async def live(
        self, report: Report, request: ReportRequest
    ) -> tuple[ReportResult, datetime | None]:
        self.live_asked.append(request)
        return self.result(), DATA_TIME

    async def as_at(self, report: Report, request: ReportRequest) -> ReportResult:
        self.as_at_asked.append(request)
        return self.result()


class FakeTimetables:
    def __init__(self) -> None:
        self.dates: dict[tuple[str, str], datetime] = {
            ("2009-10", "sandbox_opens"): BEGAN,
            ("2009-10", "summary_reports"): SUMMARY,
            ("2009-10", "data_entry_closes"): datetime(2010, 2, 28, 23, 59, tzinfo=UTC),
            ("2010-11", "sandbox_opens"): datetime(2010, 10, 1, tzinfo=UTC),
            ("2010-11", "summary_reports"): datetime(2011, 1, 10, tzinfo=UTC),
        }
        # The events that define the named moments: their journal positions and times.
        self.phases = {("2009-10", "summary-reports"): JournalMoment(40, SUMMARY_REACHED)}
        self.sign_offs = {("2009-10", "5A4"): JournalMoment(90, SIGNED)}
        self.looked_up: list[tuple[str, str]] = []

    async def timetabled(self, cycle: str, field: str) -> datetime | None:
        self.looked_up.append((cycle, field))
        return self.dates.get((cycle, field))

    async def phase_reached(self, cycle: str, phase: str) -> JournalMoment | None:
        return self.phases.get((cycle, phase))

    async def signed_off(self, cycle: str, organisation: str | None) -> JournalMoment | None:
        return self.sign_offs.get((cycle, organisation or ""))


class FakeFiles:
    def __init__(self) -> None:
        self.abouts: list[Mapping[str, object]] = []

    def csv(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        self.abouts.append(about)
        return b"zip"

    def csv_table(self, table: Table) -> bytes:
        return f"csv of {table.name}".encode()

    def xlsx(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        self.abouts.append(about)
        return b"xlsx"


class FakeSubjects:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, str | None]] = []

    async def areas(self, search: str | None, limit: int) -> SubjectPage:
        self.asked.append(("areas", search, None))
        return SubjectPage([Subject("00AA", "Anytown")], 1)

    async def organisations(
        self, search: str | None, limit: int, only: str | None = None
    ) -> SubjectPage:
        self.asked.append(("organisations", search, only))
        return SubjectPage([Subject(only or "5B1", "Somewhere")], 1)


class World:
    def __init__(self) -> None:
        self.runner = FakeRunner()
        self.timetables = FakeTimetables()
        self.files = FakeFiles()
        self.subjects = FakeSubjects()
        self.clock = FixedClock(NOW)
        self.queries = ReportQueries(
            CATALOGUE, self.runner, self.timetables, self.files, self.subjects, self.clock
        )

    async def ask(
        self, name: str, caller: Principal | None = None, **parameters: Any
    ) -> ReportAnswer | ReportFile:
        asked = ReportParameters.model_validate(parameters)
        return await self.queries.report(name, asked, caller or ADMIN)


def principal(*roles: Role, org: str | None = None) -> Principal:
    return Principal(user_id="u", session_id="s", roles=frozenset(roles), organisation_id=org)


ADMIN = principal(Role.NATIONAL_ADMIN)
LEAD = principal(Role.MAPPING_LEAD, org="5A4")


def refused(exc: pytest.ExceptionInfo[InvalidInput]) -> tuple[str | None, str]:
    detail = exc.value.details[0]
    return detail["field"], detail["reason"]


@pytest.fixture
def world() -> World:
    return World()


async def test_a_live_report_says_what_it_covers_and_when(world: World) -> None:
    answer = await world.ask("area", cycle="2009-10", area="00AA")
    assert isinstance(answer, ReportAnswer)
    assert answer.report.name == "area"
    assert world.runner.live_asked == [ReportRequest(cycle="2009-10", area="00AA")]
    assert answer.about == {
        "report": "Area",
        "cycle": "2009-10",
        "area": "00AA",
        "area_name": "Anytown",
        "data_as_at": DATA_TIME.isoformat(),
        "generated_at": NOW.isoformat(),
    }


async def test_a_known_cycle_is_looked_up_once(world: World) -> None:
    await world.ask("national", cycle="2009-10")
    await world.ask("national", cycle="2009-10")
    assert world.timetables.looked_up == [("2009-10", "sandbox_opens")]


async def test_an_unknown_report_or_cycle_is_not_found(world: World) -> None:
    with pytest.raises(NotFound, match="no report called 'nope'; GET /reports lists them"):
        await world.ask("nope")
    with pytest.raises(NotFound, match="no cycle 2011-12"):
        await world.ask("national", cycle="2011-12")
    with pytest.raises(NotFound, match="no cycle 2011-12"):
        await world.ask("national", cycle="2011-12", as_at=NOW - timedelta(days=1))


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"cycle": "2009-10", "area": 'A"1'}, "area"),
        ({"cycle": "2009-10", "organisation": "x"}, "organisation"),
        ({"cycle": "2009-10", "region": "mars"}, "region"),
        ({"cycle": "2009"}, "cycle"),
    ],
)
async def test_a_malformed_subject_is_refused_by_name(
    world: World, parameters: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        await world.ask("national", **parameters)
    assert refused(exc)[0] == field
    assert not world.runner.live_asked


async def test_a_report_names_what_it_needs(world: World) -> None:
    with pytest.raises(InvalidInput) as exc:
        await world.ask("national")
    assert refused(exc) == ("cycle", "national needs a cycle, e.g. 2009-10")
    with pytest.raises(InvalidInput) as exc:
        await world.ask("area", cycle="2009-10")
    assert refused(exc) == ("area", "area is about one area: name it")
    with pytest.raises(InvalidInput) as exc:
        await world.ask("regional", cycle="2009-10")
    assert refused(exc) == ("region", "regional is about one region: name it")
    answer = await world.ask("everyone")
    assert isinstance(answer, ReportAnswer)


async def test_a_named_moment_is_replayed_up_to_the_event_that_defines_it(world: World) -> None:
    answer = await world.ask("national", cycle="2009-10", moment="summary-reports")
    assert isinstance(answer, ReportAnswer)
    asked = world.runner.as_at_asked
    assert [(r.as_at, r.as_at_position) for r in asked] == [(SUMMARY_REACHED, 40)]
    assert answer.about["as_at"] == answer.about["data_as_at"] == SUMMARY_REACHED.isoformat()
    await world.ask("own", cycle="2009-10", organisation="5A4", moment="sign-off")
    assert (asked[-1].as_at, asked[-1].as_at_position) == (SIGNED, 90)
    # A time asked for is a time: no position.
    await world.ask("national", cycle="2009-10", as_at=SIGNED)
    assert (asked[-1].as_at, asked[-1].as_at_position) == (SIGNED, None)


async def test_a_moment_needs_its_cycle_and_organisation_and_must_have_happened(
    world: World,
) -> None:
    with pytest.raises(InvalidInput) as exc:
        await world.ask("national", cycle="2009-10", moment="close", as_at=NOW)
    assert refused(exc) == ("moment", "give as_at or moment, not both")
    with pytest.raises(InvalidInput) as exc:
        await world.ask("everyone", moment="close")
    assert refused(exc) == ("cycle", "the close moment belongs to a cycle: name it")
    with pytest.raises(InvalidInput) as exc:
        await world.ask("national", cycle="2009-10", moment="sign-off")
    assert refused(exc) == ("organisation", "whose sign-off? name the organisation")
    with pytest.raises(NotFound) as missing:
        await world.ask("own", cycle="2009-10", organisation="5B1", moment="sign-off")
    assert str(missing.value) == "sign-off has not happened in cycle 2009-10 for 5B1"
    # Timetabled, but still to come (the cycle has not moved into that phase).
    with pytest.raises(NotFound) as missing:
        await world.ask("national", cycle="2010-11", moment="summary-reports")
    assert str(missing.value) == "summary-reports has not happened in cycle 2010-11"
    assert not world.runner.as_at_asked


async def test_as_at_must_fall_within_the_cycle_and_not_in_the_future(world: World) -> None:
    with pytest.raises(InvalidInput) as exc:
        await world.ask("national", cycle="2009-10", as_at=BEGAN - timedelta(seconds=1))
    assert refused(exc) == (
        "as_at",
        f"cycle 2009-10 began at {BEGAN.isoformat()}; ask for a later time",
    )
    with pytest.raises(InvalidInput) as exc:
        await world.ask("national", cycle="2009-10", as_at=NOW + timedelta(seconds=1))
    assert refused(exc) == ("as_at", "is in the future")
    with pytest.raises(InvalidInput) as exc:
        await world.ask("everyone", as_at=NOW + timedelta(seconds=1))
    assert refused(exc) == ("as_at", "is in the future")
    assert not world.runner.as_at_asked


async def test_leads_read_area_reports_and_their_own_organisation(world: World) -> None:
    assert await world.ask("area", LEAD, cycle="2009-10", area="00AB")
    assert await world.ask("own", LEAD, cycle="2009-10", organisation="5A4")
    with pytest.raises(Forbidden, match="your role does not allow this report"):
        await world.ask("own", LEAD, cycle="2009-10", organisation="5B1")
    with pytest.raises(Forbidden):
        await world.ask("national-only", LEAD, cycle="2009-10")
    with pytest.raises(Forbidden):
        await world.ask("national", LEAD, cycle="2009-10")
    regulator = principal(Role.REGULATOR)
    assert await world.ask("own", regulator, cycle="2009-10", organisation="5B1")
    # Access is checked before the cycle is looked up: nothing is told about it.
    with pytest.raises(Forbidden):
        await world.ask("national", LEAD, cycle="2011-12")


async def test_files_are_named_after_what_they_cover(world: World) -> None:
    file = await world.ask("area", cycle="2009-10", area="00AA", format="csv")
    assert file == ReportFile(b"zip", "application/zip", "area-2009-10-00AA-20100315T120000Z.zip")
    file = await world.ask("area", cycle="2009-10", area="00AA", format="csv", table="services")
    assert file == ReportFile(
        b"csv of services",
        "text/csv; charset=utf-8",
        "area-2009-10-00AA-20100315T120000Z-services.csv",
    )
    assert world.files.abouts[-1]["area_name"] == "Anytown"
    file = await world.ask(
        "own", cycle="2009-10", organisation="5A4", moment="sign-off", format="xlsx"
    )
    assert isinstance(file, ReportFile)
    assert file.filename == "own-2009-10-5A4-20100220T093000Z.xlsx"
    assert file.media_type.startswith("application/vnd.openxmlformats")
    file = await world.ask("everyone", format="csv")
    assert isinstance(file, ReportFile) and file.filename == "everyone-20100315T120000Z.zip"


async def test_a_table_that_is_not_there_is_refused_naming_the_tables(world: World) -> None:
    with pytest.raises(InvalidInput) as exc:
        await world.ask("everyone", format="csv", table="grades")
    assert refused(exc) == ("table", "this report has no table 'grades' (its tables: services)")


@pytest.mark.parametrize(
    "caller",
    [
        ADMIN,
        LEAD,
        principal(Role.REGULATOR),
        principal(Role.AUDITOR),
        principal(Role.GROUP_OWNER, org="5A4"),
    ],
)
async def test_what_is_listed_as_readable_is_what_opens(world: World, caller: Principal) -> None:
    """The list the portal offers and the check a report applies are one rule: every listed
    report opens for its subject, and every report left out is refused."""
    listed = {r.name: a for r, a in world.queries.readable(caller)}
    for report in CATALOGUE:
        subject = {
            Scope.AREA: {"area": "00AA"},
            Scope.ORGANISATION: {"organisation": caller.organisation_id or "5B1"},
            Scope.REGION: {"region": "north-east"},
            Scope.NATIONAL: {},
        }[report.scope]
        if report.name in listed:
            assert await world.ask(report.name, caller, cycle="2009-10", **subject)
        else:
            with pytest.raises(Forbidden):
                await world.ask(report.name, caller, cycle="2009-10", **subject)
    local = caller.has(Role.MAPPING_LEAD, Role.GROUP_OWNER)
    assert listed.get("own") == ("own" if local else "any")


async def test_a_lead_picks_only_their_own_organisation(world: World) -> None:
    page = await world.queries.subject_choices("own", LEAD, "any", 10)
    assert [s.code for s in page.subjects] == ["5A4"]
    assert world.subjects.asked[-1] == ("organisations", "any", "5A4")
    await world.queries.subject_choices("own", ADMIN, None, 10)
    assert world.subjects.asked[-1] == ("organisations", None, None)
    await world.queries.subject_choices("area", LEAD, "any", 10)
    assert world.subjects.asked[-1] == ("areas", "any", None)
    with pytest.raises(Forbidden):
        await world.queries.subject_choices("national-only", LEAD, None, 10)
    with pytest.raises(InvalidInput):
        await world.queries.subject_choices("national", ADMIN, None, 10)
