"""Asking for a report: which one, about what, as at when, whether the caller may see it, and
what comes back (the report's answer, or a file named after what it covers).

The catalogue (`Reports`) says what reports exist; this is the use case of reading one. The
HTTP route only parses the query string and renders what this returns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from csm_contracts.auth import Role
from csm_contracts.events.registration import ORGANISATION_CODE_PATTERN, Region
from csm_kernel.auth import Principal
from csm_kernel.clock import Clock, SystemClock
from csm_kernel.errors import Forbidden, InvalidInput, NotFound

from .ports import JournalMoment, ReportFiles, ReportRunner, SubjectPage, Subjects, Timetables
from .reports import Report, ReportRequest, ReportResult, Reports, Scope, Table

_CYCLE = re.compile(r"\d{4}-\d{2}")
_CODE = re.compile(ORGANISATION_CODE_PATTERN)
_REGIONS = frozenset(r.value for r in Region)
_LOCAL_ROLES = (Role.MAPPING_LEAD, Role.GROUP_OWNER)

Moment = Literal["summary-reports", "close", "sign-off"]
#: Which subjects a caller may read a report about: any, or only their own organisation.
Access = Literal["any", "own"]
Format = Literal["json", "csv", "xlsx"]

#: The phase a cycle enters at each of its named moments (sign-off is the organisation's own).
_PHASE_MOMENTS = {"summary-reports": "summary-reports", "close": "closed"}

#: The media type of each file format.
MEDIA_TYPES: Mapping[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


class ReportParameters(BaseModel):
    """The query parameters of `GET /reports/{name}`."""

    cycle: str | None = None
    area: str | None = None
    organisation: str | None = None
    region: str | None = None
    q: str | None = Field(default=None, max_length=200)
    as_at: datetime | None = None
    moment: Moment | None = None
    format: Format = "json"
    #: With `format=csv`: just this table (by its name) as one CSV, not the ZIP of them all.
    table: str | None = Field(default=None, max_length=100)


@dataclass(frozen=True)
class ReportAnswer:
    """A report as data: what it is, what it found and what it covers (`about`)."""

    report: Report
    result: ReportResult
    about: dict[str, object]


def report_body(answer: ReportAnswer) -> dict[str, Any]:
    """A report's JSON body (the HTTP route's `ReportBody`), as plain data; the route and the
    offline replay both write this, so they say the same thing."""
    return {
        "report": answer.report.name,
        "title": answer.report.title,
        "about": answer.about,
        "summary": answer.result.summary,
        "tables": [
            {
                "name": t.name,
                "title": t.title,
                "columns": [{"key": c.key, "label": c.label} for c in t.columns],
                "rows": t.rows,
            }
            for t in answer.result.tables
        ],
    }


@dataclass(frozen=True)
class ReportFile:
    """A report as a file to download."""

    body: bytes
    media_type: str
    filename: str


class ReportQueries:
    """Reads reports for callers: live, or as at a moment replayed from the journal."""

    def __init__(
        self,
        catalogue: Reports,
        runner: ReportRunner,
        timetables: Timetables,
        files: ReportFiles,
        subjects: Subjects,
        clock: Clock | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.runner = runner
        self.timetables = timetables
        self.files = files
        self.subjects = subjects
        self.clock: Clock = clock or SystemClock()
        self._known_cycles: set[str] = set()

    def reports(self) -> list[Report]:
        """Every report there is."""
        return list(self.catalogue)

    def readable(self, caller: Principal) -> list[tuple[Report, Access]]:
        """The reports `caller` may open, each with which subjects (the same rule `report`
        applies, so a list built from this never offers a report that answers 403)."""
        found = ((r, access(r, caller)) for r in self.catalogue)
        return [(r, a) for r, a in found if a is not None]

    async def subject_choices(
        self, name: str, caller: Principal, search: str | None, limit: int
    ) -> SubjectPage:
        """What `caller` may pick as the subject of report `name` (an area or organisation
        report), matching `search`: any area; any organisation, or only their own.

        NotFound for no such report; Forbidden when the caller may not read it; InvalidInput
        when the report is about no one subject (a national or regional report)."""
        found = self.catalogue.get(name)
        if found is None:
            raise NotFound(f"no report called {name!r}; GET /reports lists them")
        allowed = access(found, caller)
        if allowed is None:
            raise Forbidden("your role does not allow this report")
        if found.scope is Scope.AREA:
            return await self.subjects.areas(search, limit)
        if found.scope is Scope.ORGANISATION:
            only = caller.organisation_id if allowed == "own" else None
            if allowed == "own" and only is None:
                return SubjectPage([], 0)
            return await self.subjects.organisations(search, limit, only)
        raise InvalidInput.field("name", f"{name} is not about one area or organisation")

    async def report(
        self, name: str, asked: ReportParameters, caller: Principal
    ) -> ReportAnswer | ReportFile:
        """The report called `name` for `caller`: its answer (JSON asked for) or its file.

        NotFound for a report, cycle or moment there is not (yet); InvalidInput naming the
        parameter that is missing, malformed or contradicts another; Forbidden when the
        caller's role may not read it."""
        cycle, organisation, moment, as_at = (
            asked.cycle,
            asked.organisation,
            asked.moment,
            asked.as_at,
        )
        found = self.catalogue.get(name)
        if found is None:
            raise NotFound(f"no report called {name!r}; GET /reports lists them")
        _check_codes(asked)
        position: int | None = None
        if moment is not None:
            if as_at is not None:
                raise InvalidInput.field("moment", "give as_at or moment, not both")
            if cycle is None:
                raise InvalidInput.field(
                    "cycle", f"the {moment} moment belongs to a cycle: name it"
                )
            if moment == "sign-off" and organisation is None:
                raise InvalidInput.field("organisation", "whose sign-off? name the organisation")
            happened = await self._moment(cycle, moment, organisation)
            if happened is None or happened.occurred_at > self.clock.now():
                whose = f" for {organisation}" if organisation else ""
                raise NotFound(f"{moment} has not happened in cycle {cycle}{whose}")
            as_at, position = happened.occurred_at, happened.position
        request = ReportRequest(
            cycle=cycle,
            area=asked.area,
            organisation=organisation,
            region=asked.region,
            search=asked.q,
            as_at=as_at,
            as_at_position=position,
        )
        _check_parameters(found, request)
        _check_access(found, request, caller)
        generated_at = self.clock.now()
        if cycle is not None and as_at is None:
            if not await self._cycle_known(cycle):
                raise NotFound(f"no cycle {cycle}")
        elif cycle is not None and as_at is not None:
            began = await self._cycle_began(cycle)
            if began is None:
                raise NotFound(f"no cycle {cycle}")
            if as_at < began:
                raise InvalidInput.field(
                    "as_at", f"cycle {cycle} began at {began.isoformat()}; ask for a later time"
                )
        data_as_at: datetime | None
        if as_at is not None:
            if as_at > generated_at:
                raise InvalidInput.field("as_at", "is in the future")
            result = await self.runner.as_at(found, request)
            data_as_at = as_at
        else:
            result, data_as_at = await self.runner.live(found, request)
        about = _about(found, request, result, as_at, data_as_at, generated_at)
        if asked.format == "json":
            return ReportAnswer(found, result, about)
        stamp = (as_at or generated_at).strftime("%Y%m%dT%H%M%SZ")
        stem = f"{_file_stem(found, request)}-{stamp}"
        if asked.format == "xlsx":
            return ReportFile(self.files.xlsx(result, about), MEDIA_TYPES["xlsx"], f"{stem}.xlsx")
        if asked.table is None:
            return ReportFile(self.files.csv(result, about), MEDIA_TYPES["zip"], f"{stem}.zip")
        table = _table(result, asked.table)
        body = self.files.csv_table(table)
        return ReportFile(body, MEDIA_TYPES["csv"], f"{stem}-{table.name}.csv")

    async def _cycle_known(self, cycle: str) -> bool:
        """Has `cycle` been scheduled? Remembered once it has (the journal only grows), so a
        live report does not look the timetable up on every request."""
        if cycle in self._known_cycles:
            return True
        if await self._cycle_began(cycle) is None:
            return False
        self._known_cycles.add(cycle)
        return True

    async def _cycle_began(self, cycle: str) -> datetime | None:
        """When a cycle began (its sandbox opening, as last timetabled), None if unknown."""
        return await self.timetables.timetabled(cycle, "sandbox_opens")

    async def _moment(
        self, cycle: str, name: Moment, organisation: str | None
    ) -> JournalMoment | None:
        """A named moment of a cycle as the journal event that defines it: `summary-reports`
        and `close` are the cycle's phase changes into those phases, `sign-off` the
        organisation's latest sign-off in it. The replay stops at that event, inclusive: not
        at a date read from a payload or a timetable, which the event itself is recorded
        after (so a report as at the sign-off showed the return not signed off). None if it
        has not happened."""
        if name == "sign-off":
            return await self.timetables.signed_off(cycle, organisation)
        return await self.timetables.phase_reached(cycle, _PHASE_MOMENTS[name])


def _table(result: ReportResult, name: str) -> Table:
    """The table called `name` (names are the report's own: letters, digits and dashes)."""
    for table in result.tables:
        if table.name == name:
            return table
    names = ", ".join(t.name for t in result.tables) or "none"
    raise InvalidInput.field("table", f"this report has no table {name!r} (its tables: {names})")


def access(report: Report, caller: Principal) -> Access | None:
    """Which subjects `caller` may read `report` about, None if they may not read it: any,
    for its roles; leads and group owners read area reports about any area and organisation
    reports about their own organisation only."""
    if caller.has(*report.roles):
        return "any"
    if report.leads_may_read and caller.has(*_LOCAL_ROLES):
        if report.scope is Scope.AREA:
            return "any"
        if report.scope is Scope.ORGANISATION and caller.organisation_id is not None:
            return "own"
    return None


def _about(
    report: Report,
    request: ReportRequest,
    result: ReportResult,
    as_at: datetime | None,
    data_as_at: datetime | None,
    generated_at: datetime,
) -> dict[str, object]:
    """What a report covers and when, without the parts that do not apply."""
    about: dict[str, object | None] = {
        "report": report.title,
        "cycle": request.cycle,
        "region": request.region,
        "area": request.area,
        "organisation": request.organisation,
        "search": request.search,
        **result.about,
        "as_at": as_at.isoformat() if as_at else None,
        "data_as_at": data_as_at.isoformat() if data_as_at else None,
        "generated_at": generated_at.isoformat(),
    }
    return {k: v for k, v in about.items() if v is not None}


def _file_stem(report: Report, request: ReportRequest) -> str:
    """The start of a file's name: the report, the cycle and the subject. Only checked codes
    name the file (and the report's name is one of the catalogue's)."""
    return "-".join(
        str(part)
        for part in (
            report.name,
            request.cycle,
            request.area or request.organisation or request.region,
        )
        if part
    )


def _check_codes(asked: ReportParameters) -> None:
    """Refuse a subject that is not even shaped like one, naming it, before anything reads it:
    these name the downloaded file, and a quote or CR/LF in them broke its header. A
    well-formed code nobody registered is left to the report (404). `fullmatch`, since `$`
    would let a final newline through."""
    for field, value, example in (
        ("area", asked.area, "00AA"),
        ("organisation", asked.organisation, "5A4"),
    ):
        if value is not None and not (3 <= len(value) <= 5 and _CODE.fullmatch(value)):
            raise InvalidInput.field(
                field,
                f"is not {'an' if field == 'area' else 'a'} {field} code: 3 to 5 capital letters "
                f"and digits, with at least one letter (e.g. {example})",
            )
    if asked.region is not None and asked.region not in _REGIONS:
        raise InvalidInput.field("region", "is not one of the nine regions (e.g. north-east)")
    if asked.cycle is not None and not _CYCLE.fullmatch(asked.cycle):
        raise InvalidInput.field("cycle", "must look like 2009-10")


def _check_parameters(report: Report, request: ReportRequest) -> None:
    if report.needs_cycle and request.cycle is None:
        raise InvalidInput.field("cycle", f"{report.name} needs a cycle, e.g. 2009-10")
    needed = {
        Scope.AREA: ("area", request.area),
        Scope.ORGANISATION: ("organisation", request.organisation),
        Scope.REGION: ("region", request.region),
    }
    if report.scope in needed and needed[report.scope][1] is None:
        field = needed[report.scope][0]
        raise InvalidInput.field(field, f"{report.name} is about one {field}: name it")


def _check_access(report: Report, request: ReportRequest, caller: Principal) -> None:
    allowed = access(report, caller)
    if allowed == "any" or (allowed == "own" and request.organisation == caller.organisation_id):
        return
    raise Forbidden("your role does not allow this report")
