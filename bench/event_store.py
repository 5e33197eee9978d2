"""Event-store, replay and relay throughput on this machine, against the embedded real servers.

Run: `make bench` (or `.venv/bin/python bench/event_store.py --events 50000`). Starts its own
PostgreSQL and broker on free ports in a temporary directory and prints one line per figure.
Targets (issue #2, 2-core machine): 32 concurrent single-event writers >= 3,000 events/s; batch
append >= 30,000 events/s; replay from the store >= 100,000 events/s; relay >= 20,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

from csm_kernel.database import migrate
from csm_kernel.relay import OutboxRelay
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from harness import private_stack, report

CTX = AppendContext(actor="bench")
DATA = {
    "organisation_id": "5A4",
    "code": "5A4",
    "name": "Anytown Primary Care Trust",
    "kind": "pct",
    "region": "north-west",
    "partnership_areas": ["00BR", "00BQ"],
}


def event(i: int) -> NewEvent:
    return NewEvent("registration.OrganisationRegistered", 1, {**DATA, "i": i}, f"ORG{i % 500}")


async def fresh_store(dsn_base: str, name: str) -> tuple[asyncpg.Pool, PostgresEventStore]:
    admin = await asyncpg.connect(dsn_base + "postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    pool = await asyncpg.create_pool(dsn_base + name, min_size=32, max_size=40)
    assert pool is not None
    await migrate(pool, "bench", None)
    return pool, PostgresEventStore(pool)


async def concurrent_single_appends(store: PostgresEventStore, total: int) -> float:
    writers = 32
    per_writer = total // writers

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await store.append(f"w{w}-{i}", 0, [event(i)], CTX)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return writers * per_writer / (time.perf_counter() - start)


async def batch_appends(store: PostgresEventStore, total: int, batch: int = 1000) -> float:
    start = time.perf_counter()
    for b in range(total // batch):
        await store.append(f"batch-{b}", 0, [event(i) for i in range(batch)], CTX)
    return (total // batch) * batch / (time.perf_counter() - start)


async def concurrent_batch_appends(
    store: PostgresEventStore, total: int, writers: int = 4, batch: int = 1000
) -> float:
    """Bulk loading as an importer would do it: a few writers, each appending whole batches.
    Group commit lets one writer's Python work overlap another's database work."""
    per_writer = total // writers // batch

    async def writer(w: int) -> None:
        for b in range(per_writer):
            await store.append(f"cbatch-{w}-{b}", 0, [event(i) for i in range(batch)], CTX)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return writers * per_writer * batch / (time.perf_counter() - start)


async def replay(store: PostgresEventStore) -> tuple[float, int, float]:
    """Events/s, events, and this process's CPU µs per event (steadier on a shared machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    count = 0
    async for _ in store.iterate_all(batch=5000):
        count += 1
    used = time.process_time() - cpu
    return count / (time.perf_counter() - start), count, 1e6 * used / max(count, 1)


async def relay_all(store: PostgresEventStore, bootstrap: str) -> tuple[float, int]:
    relay = OutboxRelay(
        store, bootstrap, name="bench", route=lambda _e: ["bench.relay"], batch_size=5000
    )
    await relay.start()
    try:
        start = time.perf_counter()
        published = await relay.publish_pending()
        return published / (time.perf_counter() - start), published
    finally:
        await relay.stop()


async def run(events: int, bootstrap: str, dsn_base: str) -> dict[str, float]:
    results: dict[str, float] = {}
    pool, store = await fresh_store(dsn_base, "bench_single")
    results["single_append_32_writers_events_per_s"] = await concurrent_single_appends(
        store, min(events, 20_000)
    )
    await pool.close()
    pool, store = await fresh_store(dsn_base, "bench_batch_concurrent")
    results["batch_append_4_writers_events_per_s"] = await concurrent_batch_appends(store, events)
    await pool.close()
    pool, store = await fresh_store(dsn_base, "bench_batch")
    results["batch_append_events_per_s"] = await batch_appends(store, events)
    (
        results["replay_events_per_s"],
        results["replayed_events"],
        results["replay_cpu_us_per_event"],
    ) = await replay(store)
    results["relay_events_per_s"], results["relayed_events"] = await relay_all(store, bootstrap)
    await pool.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with private_stack() as settings:
        results = asyncio.run(
            run(
                args.events,
                settings.bootstrap_servers,
                f"postgresql://postgres@127.0.0.1:{settings.pg_port}/",
            )
        )
    report(
        events=args.events, **{k: round(v, 1 if "_us_" in k else None) for k, v in results.items()}
    )


if __name__ == "__main__":
    main()
