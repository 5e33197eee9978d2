"""The abstract suite against real PostgreSQL, plus what only a real database can show:
gap-free positions under concurrent writers, and tampering caught by the hash chain."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from csm_kernel.database import migrate
from csm_kernel.errors import ConcurrencyConflict
from csm_kernel.migrations import discover, kernel_migrations
from csm_kernel.store import NewEvent
from csm_kernel.store.postgres import PostgresEventStore, payload_from_text
from csm_kernel.verify import verify_all
from store_contract import CTX, EventStoreContract, ev


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, pg_pool: asyncpg.Pool) -> PostgresEventStore:
        return PostgresEventStore(pg_pool)


async def test_migrations_are_idempotent(pg_pool: asyncpg.Pool) -> None:
    await migrate(pg_pool, "test", None)
    await migrate(pg_pool, "test", None)
    count = await pg_pool.fetchval(
        "SELECT count(*) FROM schema_migrations WHERE namespace = 'kernel'"
    )
    assert count == len(discover(kernel_migrations()))


async def test_reader_never_skips_with_32_concurrent_writers(pg_pool: asyncpg.Pool) -> None:
    """Readers poll `read_all` after the highest position they have seen while 32 writers
    append; at the end each reader must have seen every event exactly once, in order."""
    store = PostgresEventStore(pg_pool)
    writers, per_writer = 32, 40
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await store.append(f"w{w}-{i}", 0, [ev(i, key=f"K{w}")], CTX)

    async def reader() -> list[int]:
        seen: list[int] = []
        last = 0
        while True:
            finished = done.is_set()
            page = await store.read_all(last, 500)
            for e in page:
                assert e.position is not None and e.position > last
                seen.append(e.position)
                last = e.position
            if finished and not page:
                return seen
            await asyncio.sleep(0)

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    results = await asyncio.gather(*readers)
    stored = [r["position"] for r in await pg_pool.fetch("SELECT position FROM events ORDER BY 1")]
    assert len(stored) == writers * per_writer
    for seen in results:
        assert seen == stored, "a reader skipped or repeated an event"


async def test_altered_event_is_caught(pg_pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pg_pool)
    await store.append("t-1", 0, [ev(1), ev(2), ev(3)], CTX)
    await store.append("t-2", 0, [ev(9)], CTX)
    await pg_pool.execute(
        "UPDATE events SET data = $1::json WHERE stream_id = 't-1' AND stream_version = 2",
        json.dumps({"i": 200}),
    )
    broken = await verify_all(store.iterate_all())
    assert [(b.stream_id, b.stream_version) for b in broken] == [("t-1", 2)]
    assert "content" in broken[0].reason


async def test_deleted_event_is_caught(pg_pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pg_pool)
    await store.append("t-3", 0, [ev(1), ev(2), ev(3)], CTX)
    await pg_pool.execute("DELETE FROM events WHERE stream_id = 't-3' AND stream_version = 2")
    broken = await verify_all(store.iterate_all())
    assert [(b.stream_id, b.stream_version) for b in broken] == [("t-3", 2)]
    assert "missing" in broken[0].reason


async def test_rehashed_forgery_is_caught_by_the_next_link(pg_pool: asyncpg.Pool) -> None:
    """Changing an event and recomputing its own hash still breaks its successor's link."""
    from csm_kernel.hashing import chain_hash

    store = PostgresEventStore(pg_pool)
    await store.append("t-4", 0, [ev(1), ev(2)], CTX)
    first = (await store.read_stream("t-4"))[0]
    forged = first.model_copy(update={"data": {"i": 100}})
    new_hash = chain_hash(forged.prev_hash, forged.hashed_content())
    await pg_pool.execute(
        "UPDATE events SET data = $1::json, hash = $2 WHERE stream_id = 't-4' "
        "AND stream_version = 1",
        json.dumps({"i": 100}),
        new_hash,
    )
    broken = await verify_all(store.iterate_all())
    assert [(b.stream_id, b.stream_version) for b in broken] == [("t-4", 2)]


async def test_numbers_and_text_survive_storage_exactly(pg_pool: asyncpg.Pool) -> None:
    """The chain verifies after a round trip through the database, whatever the JSON holds."""
    store = PostgresEventStore(pg_pool)
    data = {
        "big": 10**20,
        "tiny": 1.5e-7,
        "exp": 1e16,
        "tenth": 0.1,
        "neg": -0.0,
        "ratio": 2 / 3,
        "text": 'Ysbyty Gwynedd \u2013 café ✓ "quoted" \\ back',
        "nested": {"z": [1, {"b": None}], "a": True},
    }
    await store.append("n-1", 0, [NewEvent("registration.Thing", 1, data, "K")], CTX)
    (read,) = await store.read_stream("n-1")
    assert read.data == data
    assert await verify_all(store.iterate_all()) == []


async def test_group_commit_keeps_each_appends_own_outcome(pg_pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pg_pool, writers=1)
    results = await asyncio.gather(
        store.append("g-1", 0, [ev(1)], CTX),
        store.append("g-1", 1, [ev(2), ev(3)], CTX),  # sees the append before it
        store.append("g-1", 1, [ev(4)], CTX),  # stale by then: refused alone
        store.append("g-2", 0, [ev(5)], CTX),
        return_exceptions=True,
    )
    refused = results[2]
    assert isinstance(refused, ConcurrencyConflict)
    assert refused.actual == 3
    assert [e.stream_version for e in results[1]] == [2, 3]
    assert [e.data["i"] for e in await store.read_stream("g-1")] == [1, 2, 3]
    assert [e.data["i"] for e in await store.read_stream("g-2")] == [5]
    # One transaction wrote them all (that is the point of grouping)...
    assert await pg_pool.fetchval("SELECT count(DISTINCT xmin::text) FROM events") == 1
    # ...and the chains hold.
    assert await verify_all(store.iterate_all()) == []


async def test_append_inside_a_callers_transaction_rolls_back_with_it(
    pg_pool: asyncpg.Pool,
) -> None:
    store = PostgresEventStore(pg_pool)
    async with pg_pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await store.append_with(conn, "r-1", 0, [ev(1)], CTX)
                raise RuntimeError("the caller's own write failed")
    assert await store.stream_version("r-1") == 0


async def test_append_many_is_all_or_nothing(pg_pool: asyncpg.Pool) -> None:
    from csm_kernel.store.postgres import StreamAppend

    store = PostgresEventStore(pg_pool)
    await store.append("m-3", 0, [ev(0)], CTX)
    async with pg_pool.acquire() as conn:
        written = await store.append_many_with(
            conn,
            [StreamAppend(f"m-{i}", 0, [ev(i), ev(i + 10)]) for i in range(3)]
            + [StreamAppend("m-3", 1, [ev(3)])],
            CTX,
            chunk_events=3,
        )
        assert [[e.stream_version for e in w] for w in written] == [[1, 2]] * 3 + [[2]]
        with pytest.raises(ConcurrencyConflict) as info:
            await store.append_many_with(
                conn, [StreamAppend("m-4", 0, [ev(4)]), StreamAppend("m-3", 1, [ev(5)])], CTX
            )
    assert info.value.stream_id == "m-3"
    assert await store.stream_version("m-4") == 0  # nothing of the refused bulk append
    assert await verify_all(store.iterate_all()) == []


@pytest.mark.parametrize(
    "text",
    [
        '{"i": 1, "f": 0.1, "s": "caf\\u00e9", "l": [1, 2.5e-3, null, true]}',
        '{"big": 123456789012345678901234567890, "low": -9223372036854775809}',
        '{"huge": 1e400}',
        '{"id": "1234567890123456789012"}',
    ],
)
def test_payload_is_read_as_the_standard_library_reads_it(text: str) -> None:
    """orjson reads beyond-64-bit integers as floats and refuses numbers beyond a double: such
    payloads must come back exactly, or their chain hash would no longer verify."""
    assert payload_from_text(text) == json.loads(text)
    assert json.dumps(payload_from_text(text)) == json.dumps(json.loads(text))


async def test_replay_keeps_large_integers_exact(pg_pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pg_pool)
    data = {"big": 2**70, "low": -(2**63) - 1, "f": 0.1, "n": 7}
    await store.append("big-1", 0, [NewEvent("test.Happened", 1, data, "K")], CTX)
    [replayed] = [e async for e in store.iterate_all()]
    assert replayed.data == data and isinstance(replayed.data["big"], int)
    assert await verify_all(store.iterate_all()) == []
