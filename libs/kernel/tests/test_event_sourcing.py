"""The event-sourced repository, one suite run against each store (in memory and PostgreSQL):
loads fold through the upcasters, saves append at the decided version, snapshots shorten the
fold, and a transaction's connection sees its own appends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import pytest

from csm_contracts.events.registration import (
    OrganisationKind,
    OrganisationRegistered,
    OrganisationRenamed,
    Region,
)
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import ConcurrencyConflict, NotFound
from csm_kernel.event_sourcing import (
    EventSourcedRepository,
    NewStream,
    Recorded,
    decode_payload,
)
from csm_kernel.store import AppendContext, EventStore, InMemoryEventStore, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from csm_kernel.upcasting import Upcasters

CTX = AppendContext(actor="tester")


@dataclass(frozen=True)
class Named:
    """A tiny aggregate: an organisation's name, and every name it had."""

    stream_id: str
    version: int
    name: str
    names: tuple[str, ...]


def evolve(state: Named | None, recorded: Recorded[EventPayload]) -> Named:
    event = recorded.payload
    if isinstance(event, OrganisationRegistered):
        return Named(recorded.stream_id, recorded.stream_version, event.name, (event.name,))
    assert state is not None
    if isinstance(event, OrganisationRenamed):
        return replace(
            state,
            version=recorded.stream_version,
            name=event.new_name,
            names=(*state.names, event.new_name),
        )
    return replace(state, version=recorded.stream_version)


def registered(name: str = "Leeds PCT") -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id="LEE1",
        code="LEE1",
        name=name,
        kind=OrganisationKind.PCT,
        region=Region.YORKSHIRE_AND_THE_HUMBER,
    )


def renamed(old: str, new: str) -> OrganisationRenamed:
    return OrganisationRenamed(organisation_id="LEE1", old_name=old, new_name=new)


class KeptSnapshots:
    """Snapshots in a dict, counting reads (the suite's fake of a snapshot table)."""

    def __init__(self) -> None:
        self.kept: dict[str, Named] = {}

    async def read(self, stream_id: str, conn: Connection | None = None) -> Named | None:
        return self.kept.get(stream_id)

    async def write(self, state: Named) -> None:
        self.kept[state.stream_id] = state


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> EventStore:
    if request.param == "memory":
        return InMemoryEventStore()
    pool: asyncpg.Pool = request.getfixturevalue("pg_pool")
    return PostgresEventStore(pool)


def stream() -> str:
    return f"organisation-{uuid.uuid4()}"


async def test_save_then_load_folds_every_event(store: EventStore) -> None:
    repo = EventSourcedRepository(store, evolve)
    sid = stream()
    await repo.save(NewStream(sid), [registered()], CTX)
    state = await repo.get(sid)
    assert (state.version, state.name) == (1, "Leeds PCT")
    await repo.save(state, [renamed("Leeds PCT", "Leeds Teaching PCT")], CTX)
    state = await repo.get(sid)
    assert state.version == 2
    assert state.names == ("Leeds PCT", "Leeds Teaching PCT")


async def test_a_stream_never_written_is_none_or_not_found(store: EventStore) -> None:
    repo = EventSourcedRepository(store, evolve, kind="organisation")
    sid = stream()
    assert await repo.load(sid) is None
    with pytest.raises(NotFound, match=f"no organisation {sid}"):
        await repo.get(sid)


async def test_a_decision_on_a_stale_state_is_refused_and_writes_nothing(
    store: EventStore,
) -> None:
    repo = EventSourcedRepository(store, evolve)
    sid = stream()
    await repo.save(NewStream(sid), [registered()], CTX)
    stale = await repo.get(sid)
    await repo.save(stale, [renamed("Leeds PCT", "A")], CTX)
    with pytest.raises(ConcurrencyConflict):
        await repo.save(stale, [renamed("Leeds PCT", "B")], CTX)
    assert (await repo.get(sid)).names == ("Leeds PCT", "A")
    with pytest.raises(ConcurrencyConflict):
        await repo.save(NewStream(sid), [registered()], CTX)


async def test_saving_nothing_appends_nothing(store: EventStore) -> None:
    repo = EventSourcedRepository(store, evolve)
    sid = stream()
    assert await repo.save(NewStream(sid), [], CTX) == []
    assert await store.stream_version(sid) == 0


async def test_save_and_evolve_returns_the_state_after_what_was_stored(store: EventStore) -> None:
    repo = EventSourcedRepository(store, evolve)
    sid = stream()
    state, stored = await repo.save_and_evolve(NewStream(sid), [registered()], CTX)
    assert state is not None and state.version == 1
    state, stored = await repo.save_and_evolve(state, [renamed("Leeds PCT", "X")], CTX)
    assert state is not None and (state.version, state.name) == (2, "X")
    assert [e.stream_version for e in stored] == [2]


async def test_loads_upcast_old_versions_before_evolving(store: EventStore) -> None:
    """An event stored at an older version reads as the newest model, on every load: the
    upcaster is what makes the stored v0 data (which named the field `name`) readable."""
    upcasters = Upcasters()

    @upcasters.register("registration.OrganisationRenamed", 0)
    def v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
        data["new_name"] = data.pop("name")
        data.setdefault("old_name", "")
        return data

    repo = EventSourcedRepository(store, evolve, upcasters=upcasters)
    sid = stream()
    await repo.save(NewStream(sid), [registered()], CTX)
    old = NewEvent(
        type="registration.OrganisationRenamed",
        version=0,
        data={"organisation_id": "LEE1", "name": "Leeds North PCT"},
        key="LEE1",
    )
    await store.append(sid, 1, [old], CTX)
    state = await repo.get(sid)
    assert state.names == ("Leeds PCT", "Leeds North PCT")
    # Without the upcaster the stored v0 event is not a known event at all.
    plain = EventSourcedRepository(store, evolve, upcasters=Upcasters())
    with pytest.raises(LookupError):
        await plain.get(sid)


async def test_a_snapshot_shortens_the_fold_to_the_events_after_it(store: EventStore) -> None:
    snapshots = KeptSnapshots()
    repo = EventSourcedRepository(store, evolve, snapshots=snapshots)
    sid = stream()
    state, _ = await repo.save_and_evolve(NewStream(sid), [registered()], CTX)
    assert state is not None
    await snapshots.write(state)
    await repo.save(state, [renamed("Leeds PCT", "B")], CTX)
    # The snapshot says something the events do not: only a fold from the snapshot keeps it.
    snapshots.kept[sid] = replace(state, names=("from the snapshot",))
    loaded = await repo.get(sid)
    assert loaded.names == ("from the snapshot", "B")
    assert loaded.version == 2


async def test_fold_rows_reads_a_tail_given_as_bare_rows(store: EventStore) -> None:
    repo = EventSourcedRepository(store, evolve)
    sid = stream()
    first, _ = await repo.save_and_evolve(NewStream(sid), [registered()], CTX)
    rows = [
        (
            "registration.OrganisationRenamed",
            1,
            "2009-06-01T09:00:00+00:00",
            {"organisation_id": "LEE1", "old_name": "Leeds PCT", "new_name": "C"},
        ),
        (
            "registration.OrganisationRenamed",
            1,
            "2009-06-02T09:00:00+00:00",
            {"organisation_id": "LEE1", "old_name": "C", "new_name": "D"},
        ),
    ]
    state = repo.fold_rows(first, sid, 1, rows)
    assert state is not None
    assert (state.version, state.names) == (3, ("Leeds PCT", "C", "D"))


async def test_a_transaction_sees_and_rolls_back_its_own_appends(pg_pool: asyncpg.Pool) -> None:
    repo = EventSourcedRepository(PostgresEventStore(pg_pool), evolve)
    sid = stream()
    async with pg_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await repo.save(NewStream(sid), [registered()], CTX, conn=conn)
        inside = await repo.get(sid, conn=conn)
        assert inside.version == 1
        assert await repo.load(sid) is None  # not committed: nobody else sees it
        await tx.rollback()
    assert await repo.load(sid) is None


def test_decode_payload_validates_through_the_registry() -> None:
    payload = decode_payload(
        "registration.OrganisationRenamed",
        1,
        {"organisation_id": "LEE1", "old_name": "A", "new_name": "B"},
    )
    assert isinstance(payload, OrganisationRenamed)
    assert payload.new_name == "B"
