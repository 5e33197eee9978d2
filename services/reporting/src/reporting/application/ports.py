"""What the reporting application needs from the world, as Protocols the adapters implement.

Nothing here runs SQL or opens a connection: `Connection` is passed through where a port must
join the caller's transaction (the consumer's, with its tracking rows)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from csm_contracts.envelope import EventEnvelope
from csm_kernel.database import Connection
from csm_kernel.health import LoopMonitor

from .projection import Lag, Progress, Projection
from .reports import Report, ReportRequest, ReportResult, Table


class Journal(Protocol):
    """Reporting's own copy of every event it has received, in arrival order."""

    async def record(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> int:
        """Add events in the caller's transaction (those already there are skipped); how
        many were new."""
        ...

    async def load(self, envelopes: Sequence[EventEnvelope]) -> int:
        """Add events in a transaction of its own (a refill); how many were new."""
        ...


@dataclass(frozen=True)
class JournalledEvent:
    """One journal event as received: its envelope, hash and prev_hash as its service sent
    them, `position` its journal position."""

    envelope: EventEnvelope
    #: False for events journalled before reporting kept causation ids (which the hash
    #: covers): the hash of such an event that had one cannot be recomputed.
    causation_kept: bool = True


class ReceivedEvents(Protocol):
    """The journal read back as received, for checking its hash chains."""

    async def head(self) -> int:
        """The last journal position (0 when empty)."""
        ...

    def received(self) -> AsyncIterator[JournalledEvent]:
        """Every journal event, in journal order."""
        ...


class Projections(Protocol):
    """The projections' live tables, their lag, and their rebuilds (the projector)."""

    @property
    def projections(self) -> Mapping[str, Projection]:
        """Every projection, by name."""
        ...

    @property
    def rebuilding(self) -> Set[str]:
        """The projections this process is rebuilding now."""
        ...

    @property
    def progress(self) -> Mapping[str, Progress]:
        """The latest progress of each rebuild this process ran or runs."""
        ...

    async def prepare(self) -> list[Projection]:
        """Create missing projections; those whose code changed (to be rebuilt)."""
        ...

    async def run(self, stop: asyncio.Event, monitor: LoopMonitor | None = None) -> None:
        """Keep every projection live until `stop` is set."""
        ...

    async def catch_up_all(self) -> int:
        """Catch every projection up to the journal's head; positions moved."""
        ...

    async def rebuild_all(
        self,
        projections: Sequence[Projection] | None = None,
        progress: Callable[[Progress], None] | None = None,
        *,
        parallel: int = ...,
    ) -> list[Progress]:
        """Rebuild projections beside the live ones, then swap them in."""
        ...

    async def lags(self) -> list[Lag]:
        """Every projection's lag behind the journal."""
        ...


class ReportRunner(Protocol):
    """Runs a report's query on the live projections, or on a replay up to a moment."""

    async def live(
        self, report: Report, request: ReportRequest
    ) -> tuple[ReportResult, datetime | None]:
        """The report now, and the time of the newest event its projections have applied."""
        ...

    async def as_at(self, report: Report, request: ReportRequest) -> ReportResult:
        """The report as it stood at `request.as_at`."""
        ...


@dataclass(frozen=True)
class JournalMoment:
    """A named moment as the event that defines it: its journal position and when it occurred."""

    position: int
    occurred_at: datetime


class Timetables(Protocol):
    """The cycles' dates, and the events that define their named moments, as the journal last
    told them."""

    async def timetabled(self, cycle: str, field: str) -> datetime | None:
        """One date of a cycle's latest timetable (a `Timetable` field), None if the cycle
        is unknown."""
        ...

    async def phase_reached(self, cycle: str, phase: str) -> JournalMoment | None:
        """The latest `CyclePhaseChanged` of the cycle into `phase`, None if it never got there."""
        ...

    async def signed_off(self, cycle: str, organisation: str | None) -> JournalMoment | None:
        """The organisation's latest `CycleSignedOff` in the cycle, None if it never signed off."""
        ...


class ReportFiles(Protocol):
    """Reports as files, each saying what it covers and when its data is from."""

    def csv(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        """A ZIP of CSV files: one per table, with what the report covers in its README."""
        ...

    def csv_table(self, table: Table) -> bytes:
        """One table as one CSV file: a header row, then its rows."""
        ...

    def xlsx(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        """One XLSX workbook."""
        ...


@dataclass(frozen=True)
class OrganisationRecord:
    """One row of the organisations read model."""

    organisation_id: str
    code: str
    name: str
    kind: str
    region: str
    partnership_areas: list[str]
    registered_at: datetime
    applied_events: int


class Organisations(Protocol):
    """The organisations read model."""

    async def list(self, kind: str | None, region: str | None) -> list[OrganisationRecord]:
        """Every organisation (of that kind, in that region), by code."""
        ...


@dataclass(frozen=True)
class Subject:
    """Something a report can be about (an LA partnership area or an organisation): its code
    as the report's parameter takes it, and the name people pick it by."""

    code: str
    name: str
    region: str | None = None


@dataclass(frozen=True)
class SubjectPage:
    """The subjects matching a search, the first `limit` of them, and how many match."""

    subjects: list[Subject]
    total: int


class Subjects(Protocol):
    """What area and organisation reports can be about, for pickers."""

    async def areas(self, search: str | None, limit: int) -> SubjectPage:
        """LA partnership areas some organisation covers, by code; `search` matches code or
        name (the area's LA's), any case."""
        ...

    async def organisations(
        self, search: str | None, limit: int, only: str | None = None
    ) -> SubjectPage:
        """Registered organisations by name (`only`: just that one, by code)."""
        ...


@dataclass(frozen=True)
class HistoryBatch:
    """Events read from a history source, and how far through it the reading is."""

    envelopes: list[EventEnvelope]
    #: Messages read so far, and in all (for a progress bar).
    seen: int
    total: int
    #: Why messages of this batch could not be read (they are skipped).
    skipped: list[str] = field(default_factory=list)


class HistorySources(Protocol):
    """Where a lost journal's history can be read back from."""

    def broker(self, bootstrap: str, topics: Sequence[str]) -> AsyncIterator[HistoryBatch]:
        """Every message of `topics`, from offset 0 to their current ends."""
        ...

    def store(self, url: str) -> AsyncIterator[HistoryBatch]:
        """Every event of one service's event store, in position order."""
        ...
