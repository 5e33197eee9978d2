"""Replaying an exported history offline: the events of the three stores into a fresh reporting
database's journal, exactly as the consumer would have recorded them, every projection rebuilt
by reporting's own code, and every report rendered as at a moment, then (optionally) compared
with what a live reporting service says.

Arrival order. The live journal's order is the order events reached reporting: each topic in
its own order (a store's position order, which its outbox publishes in), the three topics
interleaved as they arrived. An export has no arrival times, so `arrival_order` merges the
stores the way they would have arrived: never reordering within a store (position order always
wins there, as a topic delivers it), and between stores taking next whichever store's next
event occurred first; a tie on `occurred_at` goes to the store listed first in `STORES`
(registration, questionnaire, notification), then to the lower position. The merge is
deterministic, so two replays of one bundle give one journal. A named moment is the replayed
journal's position of its defining event, so it takes in whatever this order puts before it.

What the consumer does is done here too: each event is upcast to the newest version there are
upcasters for, and one whose payload the contract cannot read (an unknown type, an invalid
payload) is not journalled but listed as refused, as the consumer dead-letters it. The rest go
through the journal's own `record` (an event seen twice is kept once; NUL is replaced; the
hash and causation id are kept as received).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from csm_contracts.auth import Role
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.registration import Region
from csm_contracts.registry import UnknownEventType, payload_class
from csm_kernel.auth import Principal
from csm_kernel.errors import InvalidInput, NotFound
from csm_kernel.upcasting import UPCASTERS, Upcasters

from .ports import Journal, Projections
from .projection import Progress
from .report_queries import ReportAnswer, ReportParameters, ReportQueries, report_body
from .reports import Report, Scope

#: The stores whose events reporting journals, in the order that breaks a tie of `occurred_at`.
STORES = ("registration", "questionnaire", "notification")
#: Events journalled per transaction.
BATCH = 10_000
#: Who the replay reads reports as: the national team reads every report.
REPLAYER = Principal(
    user_id="replay", session_id="replay", roles=frozenset({Role.NATIONAL_ADMIN, Role.AUDITOR})
)
#: The moments a replay renders reports at: the latest state, or a named moment of each cycle.
MOMENTS = ("latest", "summary-reports", "close", "sign-off")


def arrival_order(stores: Mapping[str, Iterable[EventEnvelope]]) -> Iterator[EventEnvelope]:
    """The stores' events merged as reporting would have received them (module docstring).
    Each store's events must come in position order; they are read lazily."""
    rank = {name: i for i, name in enumerate(STORES)}

    def keyed(store: str, events: Iterable[EventEnvelope]) -> Iterator[tuple[Any, ...]]:
        for e in events:
            yield (e.occurred_at, rank.get(store, len(STORES)), store, e.position or 0), e

    merged = heapq.merge(
        *(keyed(store, events) for store, events in stores.items()), key=lambda pair: pair[0]
    )
    return (e for _, e in merged)


@dataclass(frozen=True)
class Refused:
    """An event the consumer would have dead-lettered instead of journalling."""

    event_id: str
    type: str
    version: int
    reason: str


def admit(envelope: EventEnvelope, upcasters: Upcasters = UPCASTERS) -> EventEnvelope | Refused:
    """The event as the consumer journals it (upcast), or why it would be refused."""
    envelope = upcasters.upcast(envelope)
    try:
        payload_class(envelope.type, envelope.version).model_validate(envelope.data)
    except UnknownEventType as exc:
        return Refused(str(envelope.event_id), envelope.type, envelope.version, str(exc))
    except ValidationError as exc:
        reason = f"invalid-payload: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
        return Refused(str(envelope.event_id), envelope.type, envelope.version, reason)
    return envelope


@dataclass
class Journalled:
    """What a replay put into its journal."""

    read: int = 0
    journalled: int = 0
    refused: list[Refused] = field(default_factory=list)
    #: Where the time went: reading and checking events (in its thread), and waiting for
    #: the journal's inserts (they overlap).
    reading_seconds: float = 0.0
    inserting_seconds: float = 0.0


@dataclass(frozen=True)
class Rendered:
    """One report rendered by the replay: what was asked, and its JSON body and CSV file, or
    why there is none (a 404 or 422 the service would have answered, e.g. a moment that has not
    happened, or a report that does not apply to the organisation)."""

    report: str
    parameters: dict[str, str]
    body: dict[str, Any] | None
    csv: bytes | None
    status: int = 200
    problem: str | None = None

    @property
    def stem(self) -> str:
        """A file name for it: the report, then its parameters' values."""
        parts = [self.report, *(self.parameters[k] for k in sorted(self.parameters))]
        return "-".join(p.replace("/", "_") for p in parts)


class Subjects(Protocol):
    """What reports can be about in the replayed projections."""

    async def cycles(self) -> list[str]:
        """Every cycle scheduled, in order."""
        ...

    async def organisations(self) -> list[str]:
        """Every organisation's code, in order."""
        ...

    async def areas(self) -> list[str]:
        """Every partnership area some organisation covers, in order."""
        ...


class LiveReports(Protocol):
    """A running reporting service's reports (over HTTP, as a reader gets them)."""

    async def fetch(
        self, report: str, parameters: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        """The HTTP status and, for a 200, the JSON body of `GET /reports/{report}`."""
        ...


@dataclass(frozen=True)
class Difference:
    """One place where the replay and the live service disagree."""

    report: str
    parameters: dict[str, str]
    path: str
    replayed: Any
    live: Any


#: Parts of a report that rightly differ between two renderings of the same data.
UNCOMPARED = frozenset({"about.generated_at"})


def differences(replayed: Any, live: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every (path, replayed, live) where two JSON documents differ: objects key by key,
    arrays element by element (a report's rows come in its own order), `UNCOMPARED` skipped."""
    if path in UNCOMPARED:
        return []
    if isinstance(replayed, dict) and isinstance(live, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(replayed) | set(live), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if sub in UNCOMPARED:
                continue
            if key not in live:
                out.append((sub, replayed[key], None))
            elif key not in replayed:
                out.append((sub, None, live[key]))
            else:
                out += differences(replayed[key], live[key], sub)
        return out
    if isinstance(replayed, list) and isinstance(live, list):
        out = []
        for i, (a, b) in enumerate(itertools.zip_longest(replayed, live)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    if type(replayed) is not type(live) and not _both_numbers(replayed, live):
        return [(path, replayed, live)]
    return [] if replayed == live else [(path, replayed, live)]


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))


class Replaying:
    """Replays a history into a fresh reporting database and renders its reports."""

    def __init__(
        self,
        journal: Journal,
        projections: Projections,
        queries: ReportQueries,
        subjects: Subjects,
        *,
        batch: int = BATCH,
    ) -> None:
        self.journal = journal
        self.projections = projections
        self.queries = queries
        self.subjects = subjects
        self.batch = batch

    async def journal_events(
        self,
        events: Iterable[EventEnvelope],
        progress: Callable[[Journalled], None] | None = None,
    ) -> Journalled:
        """Journal `events` (already in arrival order) as the consumer would, in batches.

        Reading and checking the events (Python) runs in a thread while the previous batch is
        inserted (PostgreSQL, another process), so the two overlap on two cores."""
        done = Journalled()
        loop = asyncio.get_running_loop()
        batches: asyncio.Queue[tuple[int, list[EventEnvelope]] | None] = asyncio.Queue(2)
        stop = threading.Event()

        def put(item: tuple[int, list[EventEnvelope]] | None) -> None:
            asyncio.run_coroutine_threadsafe(batches.put(item), loop).result()

        def check() -> None:
            iterator = iter(events)
            try:
                while not stop.is_set():
                    started = time.perf_counter()
                    chunk = list(itertools.islice(iterator, self.batch))
                    admitted: list[EventEnvelope] = []
                    for envelope in chunk:
                        outcome = admit(envelope)
                        if isinstance(outcome, Refused):
                            done.refused.append(outcome)
                        else:
                            admitted.append(outcome)
                    done.reading_seconds += time.perf_counter() - started
                    if not chunk:
                        break
                    put((len(chunk), admitted))
            finally:
                put(None)

        checking = loop.run_in_executor(None, check)
        try:
            while (batch := await batches.get()) is not None:
                read, admitted = batch
                started = time.perf_counter()
                done.journalled += await self.journal.load(admitted)
                done.inserting_seconds += time.perf_counter() - started
                done.read += read
                if progress is not None:
                    progress(done)
        except BaseException:
            stop.set()  # let the thread finish: it may be waiting to hand over a batch
            while await batches.get() is not None:
                pass
            raise
        finally:
            await checking  # the thread's own error, if it failed, is raised here
        return done

    async def rebuild(self, progress: Callable[[Progress], None] | None = None) -> list[Progress]:
        """Build every projection from the whole journal with reporting's own rebuild."""
        await self.projections.prepare()
        return await self.projections.rebuild_all(None, progress)

    async def render(
        self,
        moment: str = "latest",
        *,
        reports: Sequence[str] | None = None,
        national_only: bool = False,
    ) -> AsyncIterator[Rendered]:
        """Every report (or those named) for every cycle and subject, as at `moment`: `latest`,
        or a named moment of each cycle (`sign-off` renders organisation reports only, as at
        each organisation's own sign-off). `national_only` leaves out area and organisation
        reports (thousands at national scale)."""
        if moment not in MOMENTS:
            raise ValueError(f"unknown moment {moment!r}: one of {', '.join(MOMENTS)}")
        cycles = await self.subjects.cycles()
        organisations = [] if national_only else await self.subjects.organisations()
        areas = [] if national_only else await self.subjects.areas()
        for report in self.queries.reports():
            if reports is not None and report.name not in reports:
                continue
            for parameters in _requests(report, moment, cycles, organisations, areas):
                yield await self.render_one(report.name, parameters)

    async def render_one(self, name: str, parameters: Mapping[str, str]) -> Rendered:
        """One report, as JSON and CSV (or the 404/422 the service would answer)."""
        asked = ReportParameters.model_validate(dict(parameters))
        try:
            answer = await self.queries.report(name, asked, REPLAYER)
        except NotFound as exc:
            return Rendered(name, dict(parameters), None, None, 404, str(exc))
        except InvalidInput as exc:
            return Rendered(name, dict(parameters), None, None, 422, str(exc))
        assert isinstance(answer, ReportAnswer)
        csv = self.queries.files.csv(answer.result, answer.about)
        return Rendered(name, dict(parameters), report_body(answer), csv)

    async def compare(
        self, rendered: Iterable[Rendered], live: LiveReports, encode: Callable[[Any], Any]
    ) -> list[Difference]:
        """Every difference between the replay's reports and the live service's for the same
        requests. `encode` turns a replayed body into plain JSON as the service sends it (the
        same serialiser), so both sides are compared as a reader receives them."""
        found: list[Difference] = []
        for r in rendered:
            status, body = await live.fetch(r.report, r.parameters)
            if status != r.status:
                found.append(Difference(r.report, r.parameters, "status", r.status, status))
                continue
            if r.body is None or body is None:
                continue
            for path, mine, theirs in differences(encode(r.body), body):
                found.append(Difference(r.report, r.parameters, path, mine, theirs))
        return found


def _requests(
    report: Report,
    moment: str,
    cycles: Sequence[str],
    organisations: Sequence[str],
    areas: Sequence[str],
) -> Iterator[dict[str, str]]:
    """The requests that render `report` for every subject it can be about."""
    if moment == "sign-off" and report.scope is not Scope.ORGANISATION:
        return
    subjects: list[dict[str, str]] = [{}]
    if report.scope is Scope.AREA:
        subjects = [{"area": a} for a in areas]
    elif report.scope is Scope.ORGANISATION:
        subjects = [{"organisation": o} for o in organisations]
    elif report.scope is Scope.REGION:
        subjects = [{"region": r.value} for r in Region]
    if not report.needs_cycle and moment == "latest":
        yield from subjects
        return
    if not report.needs_cycle:
        return  # a named moment belongs to a cycle: over-time reports have none
    for cycle in cycles:
        for subject in subjects:
            extra = {} if moment == "latest" else {"moment": moment}
            yield {"cycle": cycle, **subject, **extra}
