"""Rebuilds asked for over HTTP (`ProjectionAdmin`) and by `csm-reporting-rebuild`
(`Rebuilding`), against in-memory fakes of the projector, the journal and the history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import pytest

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_kernel.database import Connection
from csm_kernel.errors import Conflict, NotFound
from csm_kernel.health import LoopMonitor
from reporting.application.ports import HistoryBatch
from reporting.application.projection import Lag, Progress, Projection
from reporting.application.projection_admin import ProjectionAdmin
from reporting.application.rebuilding import Rebuilding, UnknownProjections
from reporting_history import History


def projection(name: str) -> Projection:
    return Projection(name=name, description="", reads=frozenset(), ddl="", statements=())


class FakeProjector:
    def __init__(self, *names: str) -> None:
        self.projections: dict[str, Projection] = {n: projection(n) for n in names}
        self.rebuilding: set[str] = set()
        self.progress: dict[str, Progress] = {}
        self.rebuilt: list[list[str]] = []
        self.prepared = 0

    async def prepare(self) -> list[Projection]:
        self.prepared += 1
        return []

    async def run(self, stop: asyncio.Event, monitor: LoopMonitor | None = None) -> None:
        await stop.wait()

    async def catch_up_all(self) -> int:
        return 0

    async def rebuild_all(
        self,
        projections: Sequence[Projection] | None = None,
        progress: Callable[[Progress], None] | None = None,
        *,
        parallel: int = 3,
    ) -> list[Progress]:
        names = [p.name for p in projections or self.projections.values()]
        self.rebuilt.append(names)
        done = [Progress(n, 10, 10, 10, 1.0) for n in names]
        for p in done:
            self.progress[p.projection] = p
            if progress is not None:
                progress(p)
        return done

    async def lags(self) -> list[Lag]:
        return []


class FakeJournal:
    def __init__(self) -> None:
        self.events: dict[object, EventEnvelope] = {}

    async def record(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> int:
        return await self.load(envelopes)

    async def load(self, envelopes: Sequence[EventEnvelope]) -> int:
        new = [e for e in envelopes if e.event_id not in self.events]
        self.events.update((e.event_id, e) for e in new)
        return len(new)


class FakeHistory:
    def __init__(self, batches: Mapping[str, list[list[EventEnvelope]]]) -> None:
        self.batches = batches
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    async def _read(self, source: str) -> AsyncIterator[HistoryBatch]:
        batches = self.batches[source]
        total = sum(len(b) for b in batches)
        seen = 0
        for batch in batches:
            seen += len(batch)
            yield HistoryBatch(batch, seen, total, ["bad bytes"] if not batch else [])

    def broker(self, bootstrap: str, topics: Sequence[str]) -> AsyncIterator[HistoryBatch]:
        self.asked.append((bootstrap, tuple(topics)))
        return self._read("broker")

    def store(self, url: str) -> AsyncIterator[HistoryBatch]:
        self.asked.append((url, ()))
        return self._read(url)


def registered(code: str) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=code,
        code=code,
        name=f"{code} PCT",
        kind=OrganisationKind.PCT,
        region=Region.LONDON,
    )


async def test_a_rebuild_asked_for_runs_in_the_background() -> None:
    projector = FakeProjector("directory", "progress")
    admin = ProjectionAdmin(projector)
    assert admin.rebuild("progress") == ["progress"]
    await admin.rebuilds_done()
    assert projector.rebuilt == [["progress"]]
    assert admin.progress("progress") == Progress("progress", 10, 10, 10, 1.0)
    assert admin.rebuild("all") == ["directory", "progress"]
    await admin.rebuilds_done()
    assert projector.rebuilt[-1] == ["directory", "progress"]


async def test_a_rebuild_of_nothing_or_of_one_under_way_is_refused() -> None:
    projector = FakeProjector("directory", "progress")
    admin = ProjectionAdmin(projector)
    with pytest.raises(NotFound, match="no projection called 'nope'"):
        admin.rebuild("nope")
    projector.rebuilding.add("directory")
    with pytest.raises(Conflict, match="directory is already being rebuilt"):
        admin.rebuild("all")
    with pytest.raises(Conflict):
        admin.rebuild("directory")
    await admin.rebuilds_done()
    assert projector.rebuilt == []


async def test_the_cli_refills_the_journal_then_rebuilds_what_it_names() -> None:
    h = History()
    first = [h.add(registered(code)) for code in ("5A1", "5A2")]
    again = [first[1], h.add(registered("5A3"))]
    history = FakeHistory({"broker": [first, [], again], "postgresql://h/registration": [first]})
    journal = FakeJournal()
    projector = FakeProjector("directory", "organisations", "progress")
    app = Rebuilding(journal, projector, history)
    shown: list[tuple[int, int, list[str]]] = []
    added = await app.refill_from_broker(
        "b:9092", lambda b: shown.append((b.seen, b.total, b.skipped))
    )
    assert added == 3 and len(journal.events) == 3
    assert shown == [(2, 4, []), (2, 4, ["bad bytes"]), (4, 4, [])]
    assert history.asked[0][0] == "b:9092" and len(history.asked[0][1]) == 3
    assert await app.refill_from_store("postgresql://h/registration", lambda b: None) == 0
    assert app.wanted(None) == ["directory", "organisations", "progress"]
    assert app.wanted(["progress", "directory"]) == ["directory", "progress"]
    with pytest.raises(UnknownProjections, match="unknown projection\\(s\\): a, b"):
        app.wanted(["progress", "b", "a"])
    done = await app.rebuild(["organisations"], lambda p: None, parallel=2)
    assert [d.projection for d in done] == ["organisations"] and projector.prepared == 1
