"""Store positions a consumer received: contiguous runs, gaps, losses and healing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from csm_kernel.delivery import DeliveryTracker

T = "csm.registration.events"


async def _receive(tracker: DeliveryTracker, *positions: int, prev: dict[int, int] | None = None):
    """Messages at these positions, each naming the position before it as the stored event
    before it unless `prev` says otherwise."""
    prev = prev or {}
    async with tracker.pool.acquire() as conn, conn.transaction():
        await tracker.record(conn, [(T, "registration", p, prev.get(p, p - 1)) for p in positions])


async def test_positions_in_any_order_make_one_contiguous_run(pg_pool: asyncpg.Pool) -> None:
    tracker = DeliveryTracker("c", pg_pool)
    await _receive(tracker, 1, 2, 3)
    assert await tracker.contiguous(T) == 3
    await _receive(tracker, 6, 5)
    assert await tracker.contiguous(T) == 3
    gaps = await tracker.gaps()
    assert [(g.topic, g.producer, g.after, g.up_to) for g in gaps] == [(T, "registration", 3, 4)]
    await _receive(tracker, 4, 4, 2)  # duplicates and old positions change nothing
    assert await tracker.contiguous(T) == 6
    assert await tracker.gaps() == []
    assert await pg_pool.fetchval("SELECT count(*) FROM consumer_positions_ahead") == 0


async def test_remembered_positions_are_written_with_the_next_transaction(
    pg_pool: asyncpg.Pool,
) -> None:
    tracker = DeliveryTracker("c", pg_pool)
    tracker.remember([(T, "registration", 1, 0), (T, "registration", 2, 1)])
    await _receive(tracker, 3)
    assert await tracker.contiguous(T) == 3
    tracker.remember([(T, "registration", 4, 3)])
    await tracker.flush()
    assert await tracker.contiguous(T) == 4


async def test_a_hole_older_than_the_delay_is_a_loss_asked_for_until_it_heals(
    pg_pool: asyncpg.Pool,
) -> None:
    tracker = DeliveryTracker("c", pg_pool, delivery_delay=0.5)
    await _receive(tracker, 1, 2, 5, 6, 9)
    assert await tracker.losses() == []  # too young to call lost
    await asyncio.sleep(0.6)
    lost = await tracker.losses()
    assert [(g.after, g.up_to) for g in lost] == [(2, 4), (6, 8)]
    (request,) = tracker.requests(lost, datetime.now(UTC))
    assert request.source == "registration" and request.consumer == "c"
    assert [(r.after, r.up_to) for r in request.ranges] == [(2, 4), (6, 8)]
    assert tracker.gaps_detected == 2 and tracker.positions_missing == 4
    await asyncio.sleep(0.6)
    await tracker.losses()  # asked again: counted as another request, not another loss
    assert tracker.gaps_detected == 2
    rows = await pg_pool.fetch(
        "SELECT first_missing, requests, healed_at FROM consumer_gaps ORDER BY 1"
    )
    assert [(r["first_missing"], r["requests"], r["healed_at"]) for r in rows] == [
        (3, 2, None),
        (7, 2, None),
    ]
    await _receive(tracker, 3, 4)
    await tracker.losses()
    healed = await pg_pool.fetch(
        "SELECT first_missing FROM consumer_gaps WHERE healed_at IS NOT NULL"
    )
    assert [r["first_missing"] for r in healed] == [3]
    assert await tracker.contiguous(T) == 6


async def test_a_hole_in_the_store_is_not_a_loss(pg_pool: asyncpg.Pool) -> None:
    # Positions 4-6 never existed (an append rolled back): the message at 7 says so.
    tracker = DeliveryTracker("c", pg_pool, delivery_delay=0)
    await _receive(tracker, 1, 2, 3, 8, 7, prev={7: 3})
    assert await tracker.contiguous(T) == 8
    assert await tracker.gaps() == [] and await tracker.losses() == []
    # A loss just below a hole asks for what is known to exist: up to the hole's lower edge.
    await _receive(tracker, 20, prev={20: 12})
    (gap,) = await tracker.losses()
    assert (gap.after, gap.up_to) == (8, 12)


async def test_a_loss_is_asked_for_again_only_once_per_delay(pg_pool: asyncpg.Pool) -> None:
    tracker = DeliveryTracker("c", pg_pool, delivery_delay=0.4)
    await _receive(tracker, 1, 5)
    await asyncio.sleep(0.5)
    assert len(await tracker.losses()) == 1
    assert await tracker.losses() == []  # asked just now
    await asyncio.sleep(0.5)
    assert len(await tracker.losses()) == 1
