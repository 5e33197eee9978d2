"""Dead letters kept in the consumer's database: counted, not republished, and handled with the
`dead-letters` command (list, show, replay, discard)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import asyncpg

from csm_contracts.cloudevents import encode
from csm_contracts.events import OrganisationRegistered
from csm_kernel import dead_letters
from csm_kernel.commands import run_command
from csm_kernel.consumer import EventConsumer, IncomingMessage, Outcome
from csm_kernel.database import connect_pool, migrate
from csm_kernel.settings import ServiceSettings
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from kafka_helpers import headers_of, read_topic, unique_topic


class _Sink:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send(self, topic: str, key: Any, value: Any, headers: dict[str, str]) -> None:
        self.sent.append(headers)


async def _message(topic: str, offset: int, name: str) -> IncomingMessage:
    store = InMemoryEventStore()
    payload = OrganisationRegistered(
        organisation_id="DL1", code="DL1", name=name, kind="pct", region="london"
    )
    (env,) = await store.append(
        "organisation-DL1", 0, [NewEvent.from_payload(payload)], AppendContext(actor="t")
    )
    key, value, headers = encode(env)
    return IncomingMessage(topic, 0, offset, key, value, tuple(headers))


async def test_a_dead_letter_is_kept_counted_and_replayed_once_fixed(infra) -> None:
    dsn = await infra.create_database("dl")
    pg_pool = await connect_pool(dsn, size=2)
    try:
        await migrate(pg_pool, "test", None)
        await _kept_counted_and_replayed(pg_pool, dsn, infra)
    finally:
        await pg_pool.close()


async def _kept_counted_and_replayed(pg_pool: asyncpg.Pool, dsn: str, infra: Any) -> None:
    await pg_pool.execute("CREATE TABLE effects (code text)")
    broken = True

    async def handler(conn: Any, envelope: Any, event: OrganisationRegistered) -> None:
        if broken:
            raise ValueError("the projection cannot take this yet")
        await conn.execute("INSERT INTO effects VALUES ($1)", event.code)

    topic = unique_topic("dead")
    sink = _Sink()
    consumer = EventConsumer(
        "dl.consumer",
        pg_pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        sink,
        "dlq",
        max_attempts=2,
        backoff=0.01,
    )
    msg = await _message(topic, 7, "Anytown PCT")
    assert await consumer.process(msg) is Outcome.DEAD_LETTERED
    # Delivered again (a republish): counted on the same row, not published again.
    assert await consumer.process(msg) is Outcome.DEAD_LETTERED
    assert len(sink.sent) == 1
    (letter,) = await dead_letters.list_dead_letters(pg_pool)
    assert (letter.times, letter.status, letter.reason) == (2, "pending", "handler-failed")
    assert letter.source_topic == topic and letter.offset == 7
    assert "cannot take this yet" in letter.error and not letter.handled_since

    settings = ServiceSettings(database_url=dsn, kafka_bootstrap=infra.bootstrap)
    replay = argparse.Namespace(command="dead-letters", action="replay", ids=[letter.id])
    assert await asyncio.to_thread(run_command, replay, settings) == 0
    # The original message, as it was, is on its topic again, for the consumer to take.
    (record,) = await read_topic(infra.bootstrap, topic, 1)
    assert record.value == msg.value
    assert headers_of(record)["ce_id"] == str(letter.event_id)
    assert not any(k.startswith("dlq_") for k in headers_of(record))
    broken = False
    again = IncomingMessage(
        topic, 0, record.offset, record.key, record.value, tuple(record.headers)
    )
    assert await consumer.process(again) is Outcome.HANDLED
    assert await pg_pool.fetchval("SELECT count(*) FROM effects") == 1
    (letter,) = await dead_letters.list_dead_letters(pg_pool, everything=True)
    assert letter.status == "replayed" and letter.handled_since
    assert await dead_letters.list_dead_letters(pg_pool) == []


async def test_a_discarded_dead_letter_says_who_and_why(pg_pool: asyncpg.Pool) -> None:
    consumer = EventConsumer("dl.discard", pg_pool, {}, _Sink(), "dlq")
    bad = IncomingMessage("t", 0, 1, b"k", b"\x00 not json", (("ce_specversion", b"1.0"),))
    assert await consumer.process(bad) is Outcome.DEAD_LETTERED
    (letter,) = await dead_letters.list_dead_letters(pg_pool)
    assert letter.event_id is None and letter.value == b"\x00 not json"
    done = await dead_letters.resolve(
        pg_pool, [letter.id], status="discarded", by="ops", resolution="test data"
    )
    assert done == 1
    (letter,) = await dead_letters.list_dead_letters(pg_pool, everything=True)
    assert (letter.status, letter.resolved_by, letter.resolution) == (
        "discarded",
        "ops",
        "test data",
    )
