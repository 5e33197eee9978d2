"""What a report is: a named query over one or more projections' tables, giving tables of
rows with the scope and time of the data, so JSON, CSV and XLSX all say the same thing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from csm_contracts.auth import Role
from csm_kernel.database import Connection


class Scope(StrEnum):
    """What a report is about: each scope adds a required query parameter."""

    NATIONAL = "national"
    REGION = "region"
    AREA = "area"
    ORGANISATION = "organisation"


@dataclass(frozen=True)
class Column:
    """One column: its key in each row and the label people read."""

    key: str
    label: str


@dataclass
class Table:
    """One table of a report."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]


@dataclass
class ReportResult:
    """A report's answer: headline figures, tables, and what it covers."""

    tables: list[Table]
    summary: dict[str, Any] = field(default_factory=dict)
    #: Extra scope details worth printing (e.g. the area's name), besides the request's own.
    about: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportRequest:
    """What was asked: the cycle (None for reports over every cycle), the scope's subject,
    an optional free-text search, and the as-at moment (None: now).

    `as_at_position`, when given, is the journal position of the event that defines a named
    moment (a sign-off, a phase change): the replay stops at that event, inclusive, and
    `as_at` is the time that event occurred (what the report says it is as at)."""

    cycle: str | None = None
    area: str | None = None
    organisation: str | None = None
    region: str | None = None
    search: str | None = None
    as_at: datetime | None = None
    as_at_position: int | None = None


#: Runs on a connection whose search_path points at the projections' tables (live or as-at).
ReportQuery = Callable[[Connection, ReportRequest], Awaitable[ReportResult]]


@dataclass(frozen=True)
class Report:
    """A report: its name in URLs, what it reads, who may see it, and its query."""

    name: str
    title: str
    description: str
    projections: tuple[str, ...]
    scope: Scope
    query: ReportQuery
    needs_cycle: bool = True
    #: Roles that may read it for any subject. Mapping leads and group owners may read
    #: area reports for any area and organisation reports for their own organisation.
    roles: frozenset[Role] = frozenset({Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR})
    leads_may_read: bool = True
    #: For as-at: the journal keys (organisation ids) a scratch build needs, or None for all.
    as_at_keys: Callable[[Connection, ReportRequest], Awaitable[Sequence[str] | None]] | None = None
    #: What the API's optional parameters do (`description` is for people, who choose them
    #: on the page, and names other reports by their titles, in quotes).
    options: str = ""
    #: Companion reports (names), which a page offers beside this one when it may.
    see_also: tuple[str, ...] = ()


class Reports:
    """The catalogue of reports, by name."""

    def __init__(self, reports: Sequence[Report]) -> None:
        self._by_name = {r.name: r for r in reports}

    def __iter__(self) -> Iterator[Report]:
        return iter(self._by_name.values())

    def get(self, name: str) -> Report | None:
        """The report called `name`, if there is one."""
        return self._by_name.get(name)
