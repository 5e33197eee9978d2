"""Participation in a cycle, one page at a time: every organisation that owes a return, with
its status, filtered, searched, sorted and paged where the data lives, and how many
organisations each filter would show.

The national team watches thousands of organisations; the page they read asks for 25 at a
time, and the counts beside each filter say how many the other filters leave for it (a
faceted count: choosing "London" shows how many London organisations are overdue)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from csm_kernel.errors import NotFound


class ReturnStatus(StrEnum):
    """Where an organisation's return stands: one of the first four, and any of the flags."""

    NOT_STARTED = "not-started"
    IN_PROGRESS = "in-progress"
    SUBMITTED = "submitted"
    SIGNED_OFF = "signed-off"
    #: Not signed off and its deadline (its extension if later than the close) has passed.
    OVERDUE = "overdue"
    #: Granted an extension.
    EXTENDED = "extended"
    #: Reopened at least once since a sign-off or the close.
    REOPENED = "reopened"


#: The four a return is always in exactly one of.
STAGES = (
    ReturnStatus.NOT_STARTED,
    ReturnStatus.IN_PROGRESS,
    ReturnStatus.SUBMITTED,
    ReturnStatus.SIGNED_OFF,
)
#: The flags a return may carry besides.
FLAGS = (ReturnStatus.OVERDUE, ReturnStatus.EXTENDED, ReturnStatus.REOPENED)


class SortKey(StrEnum):
    NAME = "name"
    REGION = "region"
    STATUS = "status"
    LAST_ACTIVITY = "last-activity"
    DEADLINE = "deadline"


@dataclass(frozen=True)
class ParticipationQuery:
    """Which organisations, in which order, which page."""

    cycle: str
    region: str | None = None
    kind: str | None = None
    status: ReturnStatus | None = None
    #: Part of the name or code, any case.
    search: str | None = None
    sort: SortKey = SortKey.NAME
    descending: bool = False
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True)
class ParticipationRow:
    """One organisation's return in the cycle."""

    organisation_id: str
    code: str
    name: str | None
    kind: str | None
    region: str | None
    status: ReturnStatus
    issued: int
    submitted: int
    percent_complete: float | None
    signed_off_at: datetime | None
    deadline: datetime | None
    extension_until: datetime | None
    reopenings: int
    last_activity: datetime | None
    overdue: bool


@dataclass(frozen=True)
class ParticipationPage:
    """One page of the filtered organisations, how many there are, and the counts per filter."""

    cycle: str
    phase: str
    data_entry_closes: datetime
    as_at: datetime
    total: int
    rows: Sequence[ParticipationRow]
    #: For each filter (`status`, `region`, `kind`): how many organisations each of its
    #: values would show, the other filters as asked.
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: The whole cycle, unfiltered: organisations, signed off, issued, submitted.
    summary: Mapping[str, int] = field(default_factory=dict)


class ParticipationReader(Protocol):
    """The progress and organisations projections, read for this page."""

    async def page(self, query: ParticipationQuery, now: datetime) -> ParticipationPage | None:
        """The page asked for (None when there is no such cycle)."""
        ...

    async def all_rows(self, query: ParticipationQuery, now: datetime) -> ParticipationPage | None:
        """Every organisation the filters leave, in order (the download; page ignored)."""
        ...


#: Writes a page's rows as a CSV file (the adapters' `participation_csv`).
CsvWriter = Callable[[ParticipationPage], bytes]


class Participation:
    """Reads the participation page or its download."""

    def __init__(self, reader: ParticipationReader, csv: CsvWriter) -> None:
        self.reader = reader
        self.csv = csv

    async def page(self, query: ParticipationQuery, now: datetime) -> ParticipationPage:
        """NotFound when there is no such cycle."""
        found = await self.reader.page(query, now)
        if found is None:
            raise NotFound(f"no cycle {query.cycle}")
        return found

    async def download(self, query: ParticipationQuery, now: datetime) -> tuple[str, bytes]:
        """Every row the filters leave as a CSV file: its name and body (NotFound when there
        is no such cycle)."""
        found = await self.reader.all_rows(query, now)
        if found is None:
            raise NotFound(f"no cycle {query.cycle}")
        parts = [query.cycle, "participation", query.region, query.kind, query.status]
        return "-".join(p for p in parts if p) + ".csv", self.csv(found)
