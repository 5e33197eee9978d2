"""The outbox relay against real PostgreSQL and the real broker."""

from __future__ import annotations

import asyncpg
import pytest

from csm_kernel.relay import OutboxRelay
from csm_kernel.store import AppendContext
from csm_kernel.store.postgres import PostgresEventStore
from kafka_helpers import headers_of, read_topic, unique_topic
from store_contract import ev

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def _fill(store: PostgresEventStore, n: int) -> list[str]:
    ids = []
    for i in range(n):
        (e,) = await store.append(
            f"org-{i % 5}",
            i // 5,
            [ev(i, key=f"ORG{i % 5}")],
            AppendContext(actor="t", trace_context=TRACEPARENT),
        )
        ids.append(str(e.event_id))
    return ids


def _relay(store: PostgresEventStore, bootstrap: str, topic: str) -> OutboxRelay:
    return OutboxRelay(store, bootstrap, route=lambda _e: [topic], batch_size=7)


async def test_publishes_in_position_order_as_cloudevents(pg_pool: asyncpg.Pool, infra) -> None:
    store = PostgresEventStore(pg_pool)
    ids = await _fill(store, 30)
    topic = unique_topic("relay")
    relay = _relay(store, infra.bootstrap, topic)
    await relay.start()
    try:
        assert await relay.publish_pending() == 30
        assert await relay.checkpoint() == await store.max_position()
        assert await relay.publish_pending() == 0
    finally:
        await relay.stop()
    records = await read_topic(infra.bootstrap, topic, 30)
    assert sorted(headers_of(r)["ce_id"] for r in records) == sorted(ids)
    # Order is kept per partition (and so per organisation, the key).
    by_partition: dict[int, list[int]] = {}
    for r in records:
        by_partition.setdefault(r.partition, []).append(int(headers_of(r)["ce_position"]))
    for positions in by_partition.values():
        assert positions == sorted(positions)
    first = next(headers_of(r) for r in records if headers_of(r)["ce_id"] == ids[0])
    assert first["ce_specversion"] == "1.0"
    assert first["ce_type"] == "registration.OrganisationRegistered"
    assert first["ce_source"] == "/csm/registration"
    assert {r.key for r in records} == {b"ORG0", b"ORG1", b"ORG2", b"ORG3", b"ORG4"}
    # The message carries the trace of the request that appended the event.
    assert first["traceparent"] == TRACEPARENT


async def test_crash_between_publish_and_checkpoint_loses_nothing(
    pg_pool: asyncpg.Pool, infra
) -> None:
    store = PostgresEventStore(pg_pool)
    ids = await _fill(store, 20)
    topic = unique_topic("crash")
    crashing = _relay(store, infra.bootstrap, topic)
    saves = 0
    original = crashing._save

    async def crash_on_second_save(previous, position, acked) -> bool:
        nonlocal saves
        saves += 1
        if saves == 2:
            raise RuntimeError("process killed")
        return await original(previous, position, acked)

    crashing._save = crash_on_second_save  # type: ignore[method-assign]
    await crashing.start()
    with pytest.raises(RuntimeError, match="killed"):
        await crashing.publish_pending()
    await crashing.stop()
    # Appends that happened while the relay was down are not lost either.
    ids += await _fill_more(store)
    restarted = _relay(store, infra.bootstrap, topic)
    await restarted.start()
    try:
        await restarted.publish_pending()
    finally:
        await restarted.stop()
    records = await read_topic(infra.bootstrap, topic, len(ids))
    published = [headers_of(r)["ce_id"] for r in records]
    assert set(published) == set(ids)
    # At least once: the batch whose checkpoint was lost went out twice, in order both times.
    assert len(published) == len(ids) + 7


async def _fill_more(store: PostgresEventStore) -> list[str]:
    out = []
    for i in range(3):
        (e,) = await store.append(f"late-{i}", 0, [ev(i)], AppendContext(actor="t"))
        out.append(str(e.event_id))
    return out


async def test_empty_broker_is_refilled_from_the_store(pg_pool: asyncpg.Pool, infra) -> None:
    store = PostgresEventStore(pg_pool)
    ids = await _fill(store, 12)
    topic = unique_topic("refill")
    relay = _relay(store, infra.bootstrap, topic)
    await relay.start()
    await relay.publish_pending()
    await relay.stop()
    infra.restart_broker()  # memory storage: every topic is gone
    relay = _relay(store, infra.bootstrap, topic)
    await relay.start()
    try:
        assert await relay.check_broker_history(force=True) is True
        assert relay.history_losses == 1
        assert await relay.publish_pending() == 12
        assert await relay.check_broker_history(force=True) is False
    finally:
        await relay.stop()
    records = await read_topic(infra.bootstrap, topic, 12)
    assert sorted(headers_of(r)["ce_id"] for r in records) == sorted(ids)


async def test_republish_a_range_leaves_the_checkpoint(pg_pool: asyncpg.Pool, infra) -> None:
    store = PostgresEventStore(pg_pool)
    ids = await _fill(store, 10)
    topic = unique_topic("range")
    relay = _relay(store, infra.bootstrap, topic)
    await relay.start()
    try:
        events = await store.read_all(0, 100)
        start, end = events[2].position, events[5].position
        assert start is not None and end is not None
        assert await relay.republish(start, end) == 3
        assert await relay.checkpoint() == 0
    finally:
        await relay.stop()
    records = await read_topic(infra.bootstrap, topic, 3)
    assert sorted(headers_of(r)["ce_id"] for r in records) == sorted(ids[3:6])


async def test_one_relay_publishes_at_a_time_and_another_takes_over(
    pg_pool: asyncpg.Pool, infra
) -> None:
    import asyncio

    store = PostgresEventStore(pg_pool)
    topic = unique_topic("leader")
    relays = [
        OutboxRelay(
            store,
            infra.bootstrap,
            route=lambda _e: [topic],
            poll_interval=0.1,
            standby_interval=0.2,
        )
        for _ in range(2)
    ]
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(r.run(s)) for r, s in zip(relays, stops, strict=True)]
    try:
        await asyncio.sleep(1)
        assert sorted(r.leading for r in relays) == [False, True]
        leader = next(i for i, r in enumerate(relays) if r.leading)
        await _fill(store, 10)
        records = await read_topic(infra.bootstrap, topic, 10)
        assert len(records) == 10  # published once: the standby did not publish too
        # The leader stops; the standby takes over and publishes what comes next.
        stops[leader].set()
        await tasks[leader]
        await relays[leader].stop()
        (e,) = await store.append("org-next", 0, [ev(99, key="ORGX")], AppendContext(actor="t"))
        records = await read_topic(infra.bootstrap, topic, 11)
        assert str(e.event_id) in {headers_of(r)["ce_id"] for r in records}
        assert relays[1 - leader].leading
    finally:
        for s in stops:
            s.set()
        await asyncio.gather(*tasks)
        for r in relays:
            await r.stop()


async def test_a_leading_relay_never_blocks_another_process_migrating(pg_pool) -> None:
    # The relay leader holds its lock for its whole life; a second worker, replica or the
    # `create-account` command must still be able to run migrations meanwhile.
    import asyncio

    from csm_kernel.database import migrate
    from csm_kernel.relay import RELAY_LOCK

    async with pg_pool.acquire() as leader:
        assert await leader.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK)
        try:
            await asyncio.wait_for(migrate(pg_pool, "test", None), 10)
        finally:
            await leader.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)


async def test_a_stopped_leader_hands_its_lock_back_through_a_pool_that_keeps_sessions(
    infra,
) -> None:
    # The kernel's pools skip asyncpg's reset query (csm_kernel.database.keep_session), so the
    # relay itself must unlock its leadership before its connection goes back to the pool:
    # otherwise the next request to draw that connection would hold the lock for ever.
    import asyncio

    from csm_kernel.database import connect_pool, migrate
    from csm_kernel.relay import RELAY_LOCK

    dsn = await infra.create_database()
    pool = await connect_pool(dsn, size=2)
    try:
        await migrate(pool, "test", None)
        topic = unique_topic("handback")
        relay = OutboxRelay(
            PostgresEventStore(pool), infra.bootstrap, route=lambda _e: [topic], poll_interval=0.1
        )
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        for _ in range(50):
            if relay.leading:
                break
            await asyncio.sleep(0.1)
        assert relay.leading
        stop.set()
        await task
        await relay.stop()
        assert not relay.leading
        # Both pooled connections, the relay's listener among them, are back without a lock.
        assert pool.get_idle_size() == pool.get_size()
        held = await pool.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        )
        assert held == 0
        other = await asyncpg.connect(dsn)
        try:
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK)
        finally:
            await other.close()
    finally:
        await pool.close()
