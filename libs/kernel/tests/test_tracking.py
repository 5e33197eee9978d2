"""Tracking that does not grow for ever: rows older than the de-duplication window are pruned,
and a redelivery of a message whose row is gone is still a duplicate (real PostgreSQL)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from csm_contracts.cloudevents import encode
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
from csm_kernel import tracking
from csm_kernel.consumer import EventConsumer, IncomingMessage, Outcome
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent


class _NoDeadLetterTopic:
    async def send(self, topic: str, key: object, value: object, headers: object) -> None:
        return None


async def _events(n: int) -> list[EventEnvelope]:
    store = InMemoryEventStore()
    out = []
    for i in range(n):
        code = f"TR{i}"
        payload = OrganisationRegistered(
            organisation_id=code, code=code, name=f"Org {i}", kind="pct", region="london"
        )
        out += await store.append(
            f"organisation-{code}", 0, [NewEvent.from_payload(payload)], AppendContext(actor="t")
        )
    return out


def _message(topic: str, envelope: EventEnvelope, offset: int) -> IncomingMessage:
    assert envelope.position is not None
    key, value, headers = encode(envelope, previous_position=envelope.position - 1)
    return IncomingMessage(topic, 0, offset, key, value, tuple(headers))


@pytest.fixture
async def effects(pg_pool: asyncpg.Pool) -> str:
    table = f"effects_{uuid.uuid4().hex[:8]}"
    await pg_pool.execute(f"CREATE TABLE {table} (code text)")
    return table


def _consumer(pg_pool: asyncpg.Pool, table: str, name: str, batch: bool) -> EventConsumer:
    async def handler(conn, envelope, event: OrganisationRegistered) -> None:
        await conn.execute(f"INSERT INTO {table} VALUES ($1)", event.code)

    async def handle_all(conn, events) -> None:
        for envelope, event in events:
            await handler(conn, envelope, event)

    return EventConsumer(
        name,
        pg_pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        _NoDeadLetterTopic(),
        "dlq",
        backoff=0.01,
        tracked=lambda _: True,
        batch_handler=handle_all if batch else None,
    )


async def _age(pg_pool: asyncpg.Pool, consumer: str, days: int) -> None:
    """Make the consumer's rows and marks look `days` old (the window is days long)."""
    await pg_pool.execute(
        "UPDATE processed_messages SET processed_at = now() - make_interval(days => $2) "
        "WHERE consumer = $1",
        consumer,
        days,
    )
    await pg_pool.execute(
        "UPDATE processed_pruned SET raised_at = now() - make_interval(days => $2) "
        "WHERE consumer = $1",
        consumer,
        days,
    )


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batched"])
async def test_a_redelivery_older_than_the_window_is_still_a_duplicate(
    pg_pool: asyncpg.Pool, effects: str, batch: bool
) -> None:
    name = f"tracking.{uuid.uuid4().hex[:8]}"
    topic = f"t-{name}"
    consumer = _consumer(pg_pool, effects, name, batch)
    events = await _events(6)
    messages = [_message(topic, e, i) for i, e in enumerate(events)]
    first = await (consumer.process_batch(messages[:4]) if batch else _each(consumer, messages[:4]))
    assert first == [Outcome.HANDLED] * 4

    # A week later: the first pass raises the mark, the next (once it settled) deletes rows.
    await _age(pg_pool, name, 8)
    assert await tracking.prune(pg_pool, name, window=7 * 86400) == 0
    await _age(pg_pool, name, 8)
    assert await tracking.prune(pg_pool, name, window=7 * 86400) == 4
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM processed_messages WHERE consumer = $1", name)
        == 0
    )

    # Every old message redelivered (a republish): no second effect; new ones still land.
    again = await (consumer.process_batch(messages) if batch else _each(consumer, messages))
    assert again == [Outcome.DUPLICATE] * 4 + [Outcome.HANDLED] * 2
    codes = [r["code"] for r in await pg_pool.fetch(f"SELECT code FROM {effects} ORDER BY code")]
    assert codes == [f"TR{i}" for i in range(6)]


async def test_rows_inside_the_window_and_above_the_contiguous_prefix_stay(
    pg_pool: asyncpg.Pool, effects: str
) -> None:
    name = f"tracking.{uuid.uuid4().hex[:8]}"
    topic = f"t-{name}"
    consumer = _consumer(pg_pool, effects, name, batch=False)
    events = await _events(5)
    # Position 3 never arrives: 4 and 5 wait above the contiguous prefix (2).
    await _each(consumer, [_message(topic, e, i) for i, e in enumerate(events) if i != 2])
    await _age(pg_pool, name, 8)
    await tracking.prune(pg_pool, name, window=7 * 86400)
    await _age(pg_pool, name, 8)
    assert await tracking.prune(pg_pool, name, window=7 * 86400) == 2
    kept = await pg_pool.fetch(
        "SELECT position FROM processed_messages WHERE consumer = $1 ORDER BY position", name
    )
    assert [r["position"] for r in kept] == [4, 5]
    # A fresh row (inside the window) is never pruned, and the mark (a prefix) stops below it:
    # the old rows above it wait for it to age.
    await _each(consumer, [_message(topic, events[2], 9)])
    await _age(pg_pool, name, 8)
    await pg_pool.execute(
        "UPDATE processed_messages SET processed_at = now() WHERE consumer = $1 AND position = 3",
        name,
    )
    await tracking.prune(pg_pool, name, window=7 * 86400)
    await _age(pg_pool, name, 8)
    await pg_pool.execute(
        "UPDATE processed_messages SET processed_at = now() WHERE consumer = $1 AND position = 3",
        name,
    )
    await tracking.prune(pg_pool, name, window=7 * 86400)
    kept = await pg_pool.fetch(
        "SELECT position FROM processed_messages WHERE consumer = $1 ORDER BY position", name
    )
    assert [r["position"] for r in kept] == [3, 4, 5]
    assert (
        await pg_pool.fetchval("SELECT up_to FROM processed_pruned WHERE consumer = $1", name) == 2
    )


async def test_a_pending_dead_letter_below_the_mark_is_still_handled_when_replayed(
    pg_pool: asyncpg.Pool, effects: str
) -> None:
    name = f"tracking.{uuid.uuid4().hex[:8]}"
    topic = f"t-{name}"
    events = await _events(3)
    failing = True

    async def handler(conn, envelope, event: OrganisationRegistered) -> None:
        if failing and event.code == "TR1":
            raise ValueError("cannot handle TR1 yet")
        await conn.execute(f"INSERT INTO {effects} VALUES ($1)", event.code)

    consumer = EventConsumer(
        name,
        pg_pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        _NoDeadLetterTopic(),
        "dlq",
        backoff=0.01,
        max_attempts=1,
        tracked=lambda _: True,
    )
    messages = [_message(topic, e, i) for i, e in enumerate(events)]
    assert await _each(consumer, messages) == [
        Outcome.HANDLED,
        Outcome.DEAD_LETTERED,
        Outcome.HANDLED,
    ]
    for _ in range(2):
        await _age(pg_pool, name, 8)
        await tracking.prune(pg_pool, name, window=7 * 86400)
    assert (
        await pg_pool.fetchval("SELECT up_to FROM processed_pruned WHERE consumer = $1", name) == 3
    )
    failing = False
    assert await _each(consumer, messages) == [
        Outcome.DUPLICATE,
        Outcome.HANDLED,
        Outcome.DUPLICATE,
    ]


async def _each(consumer: EventConsumer, messages: list[IncomingMessage]) -> list[Outcome]:
    return [await consumer.process(m) for m in messages]
