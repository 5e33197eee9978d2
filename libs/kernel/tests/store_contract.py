"""The abstract event-store test suite: every EventStore implementation must pass it.

Concrete test modules subclass `EventStoreContract` and provide a `store` fixture.
"""

from __future__ import annotations

import asyncio

import pytest

from csm_contracts.envelope import EventEnvelope
from csm_kernel.errors import ConcurrencyConflict
from csm_kernel.hashing import GENESIS_HASH
from csm_kernel.store import AppendContext, EventStore, NewEvent
from csm_kernel.verify import verify_all, verify_stream

CTX = AppendContext(actor="tester")


def ev(i: int = 0, key: str = "ORG1") -> NewEvent:
    return NewEvent(type="registration.OrganisationRegistered", version=1, data={"i": i}, key=key)


class EventStoreContract:
    async def test_append_then_read_stream_in_order(self, store: EventStore) -> None:
        stored = await store.append("s-1", 0, [ev(1), ev(2)], CTX)
        assert [e.stream_version for e in stored] == [1, 2]
        more = await store.append("s-1", 2, [ev(3)], CTX)
        assert more[0].stream_version == 3
        read = await store.read_stream("s-1")
        assert [e.data["i"] for e in read] == [1, 2, 3]
        assert [e.event_id for e in read] == [e.event_id for e in [*stored, *more]]
        assert await store.stream_version("s-1") == 3
        assert [e.data["i"] for e in await store.read_stream("s-1", after_version=2)] == [3]

    async def test_wrong_expected_version_is_a_conflict_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        await store.append("s-2", 0, [ev(1)], CTX)
        with pytest.raises(ConcurrencyConflict) as info:
            await store.append("s-2", 0, [ev(2)], CTX)
        assert info.value.status_code == 409
        with pytest.raises(ConcurrencyConflict):
            await store.append("s-2", 5, [ev(2)], CTX)
        assert await store.stream_version("s-2") == 1

    async def test_concurrent_appends_at_same_version_exactly_one_wins(
        self, store: EventStore
    ) -> None:
        await store.append("s-3", 0, [ev(0)], CTX)
        results = await asyncio.gather(
            *(store.append("s-3", 1, [ev(i)], CTX) for i in range(10)), return_exceptions=True
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
        assert len(winners) == 1
        assert len(losers) == 9
        assert await store.stream_version("s-3") == 2

    async def test_global_positions_increase_across_streams(self, store: EventStore) -> None:
        await store.append("a", 0, [ev(1)], CTX)
        await store.append("b", 0, [ev(2), ev(3)], CTX)
        await store.append("a", 1, [ev(4)], CTX)
        events = await store.read_all(0, 100)
        positions = [e.position for e in events]
        assert positions == sorted(positions)
        assert len(set(positions)) == 4
        assert [e.data["i"] for e in events] == [1, 2, 3, 4]
        assert await store.max_position() == positions[-1]
        first = positions[0]
        assert first is not None
        assert [e.data["i"] for e in await store.read_all(first, 2)] == [2, 3]

    async def test_each_stream_is_hash_chained(self, store: EventStore) -> None:
        await store.append("c", 0, [ev(1), ev(2)], CTX)
        await store.append("c", 2, [ev(3)], CTX)
        events = await store.read_stream("c")
        assert events[0].prev_hash == GENESIS_HASH
        assert events[1].prev_hash == events[0].hash
        assert events[2].prev_hash == events[1].hash
        assert verify_stream(events) is None
        assert await verify_all(store.iterate_all()) == []

    async def test_envelope_records_who_and_why(self, store: EventStore) -> None:
        ctx = AppendContext(actor="lead@example.org", correlation_id="corr-1", causation_id="c-0")
        (stored,) = await store.append("d", 0, [ev(1, key="ABC")], ctx)
        (read,) = await store.read_stream("d")
        assert read == stored
        # Envelopes the store builds without validation are exactly what validation would give.
        assert EventEnvelope.model_validate(read.model_dump()) == read
        assert EventEnvelope.model_validate(stored.model_dump()) == stored
        assert (read.actor, read.correlation_id, read.causation_id, read.key) == (
            "lead@example.org",
            "corr-1",
            "c-0",
            "ABC",
        )
        assert read.occurred_at.tzinfo is not None

    async def test_iterate_all_honours_range(self, store: EventStore) -> None:
        for i in range(7):
            await store.append(f"e-{i}", 0, [ev(i)], CTX)
        everything = [e async for e in store.iterate_all(batch=3)]
        assert len(everything) == 7
        p2, p5 = everything[1].position, everything[4].position
        assert p2 is not None and p5 is not None
        ranged = [e.data["i"] async for e in store.iterate_all(p2, p5, batch=2)]
        assert ranged == [2, 3, 4]
