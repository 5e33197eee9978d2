"""Idempotent consumers through FastStream against the real broker and PostgreSQL:
redelivery has one effect; poison messages go to the dead-letter topic and the consumer goes on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from csm_contracts import Topics
from csm_contracts.cloudevents import encode
from csm_contracts.events import OrganisationRegistered
from csm_kernel.consumer import (
    EventConsumer,
    IncomingMessage,
    NotYetKnown,
    Outcome,
    RejectedMessage,
)
from csm_kernel.kafka import BrokerDeadLetters, make_broker, subscribe
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from kafka_helpers import eventually, headers_of, read_topic, unique_topic


async def _event(code: str, name: str = "Anytown PCT") -> tuple[bytes, bytes, list]:
    store = InMemoryEventStore()
    payload = OrganisationRegistered(
        organisation_id=code, code=code, name=name, kind="pct", region="london"
    )
    (env,) = await store.append(
        f"organisation-{code}", 0, [NewEvent.from_payload(payload)], AppendContext(actor="t")
    )
    return encode(env)


@pytest.fixture(params=[None, 50], ids=["one-by-one", "batched"])
async def running(
    pg_pool: asyncpg.Pool, infra, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, Any]]:
    # Every test runs twice: one transaction per message, and many messages per transaction
    # (where one poison message must still be isolated and the rest land).
    await pg_pool.execute("CREATE TABLE effects (code text, name text)")
    await pg_pool.execute("CREATE TABLE known (code text)")

    async def handler(conn, envelope, event: OrganisationRegistered) -> None:
        if event.name == "explode":
            raise ValueError("cannot project this organisation")
        if event.name == "nobody":
            raise RejectedMessage("no recipient for this organisation")
        if event.name == "waits" and not await conn.fetchval(
            "SELECT count(*) FROM known WHERE code = $1", event.code
        ):
            raise NotYetKnown(f"nothing known of {event.code} yet")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", event.code, event.name)

    topic, group = unique_topic("consume"), f"g-{uuid.uuid4().hex[:8]}"
    dlq = f"{topic}.dlq"
    broker = make_broker(infra.bootstrap)
    consumer = EventConsumer(
        "test.consumer",
        pg_pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        BrokerDeadLetters(broker),
        dlq,
        max_attempts=3,
        backoff=0.01,
        dependency_wait=3.0,
    )
    subscribe(
        broker,
        topic,
        consumer,
        group_id=group,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        batch=request.param,
    )
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    await broker.start()
    try:
        yield {
            "topic": topic,
            "dlq": dlq,
            "producer": producer,
            "pool": pg_pool,
            "bootstrap": infra.bootstrap,
        }
    finally:
        await broker.stop()
        await producer.stop()


async def _send(ctx: dict[str, Any], key: bytes, value: bytes, headers: list) -> None:
    await ctx["producer"].send_and_wait(ctx["topic"], value=value, key=key, headers=headers)


async def _effects(ctx: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(r) for r in await ctx["pool"].fetch("SELECT code, name FROM effects ORDER BY 1")]


async def test_redelivered_message_has_one_effect(running: dict[str, Any]) -> None:
    key, value, headers = await _event("AB1")
    await _send(running, key, value, headers)
    await _send(running, key, value, headers)  # the same event, delivered again
    key2, value2, headers2 = await _event("AB2")
    await _send(running, key2, value2, headers2)

    async def both_seen() -> bool:
        return await running["pool"].fetchval("SELECT count(*) FROM processed_messages") == 2

    await eventually(both_seen, what="both events processed")
    await asyncio.sleep(1)  # room for a wrongly applied duplicate to show up
    assert await _effects(running) == [("AB1", "Anytown PCT"), ("AB2", "Anytown PCT")]


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_consumer_goes_on(
    running: dict[str, Any],
) -> None:
    await _send(running, b"X", b"\x00not json", [("ce_specversion", b"1.0")])
    key, value, headers = await _event("CD1")
    # A version of a handled type that no model reads (an unhandled type would be ignored).
    unknown = [(k, b"99" if k == "ce_eventversion" else v) for k, v in headers]
    await _send(running, key, value, unknown)
    bad_payload = b'{"organisation_id": "CD2", "code": "lowercase!"}'
    await _send(running, key, bad_payload, headers)
    key, value, headers = await _event("CD3", name="explode")
    await _send(running, key, value, headers)
    key, value, headers = await _event("CD5", name="nobody")
    await _send(running, key, value, headers)
    key, value, headers = await _event("CD4")
    await _send(running, key, value, headers)

    async def last_applied() -> bool:
        return ("CD4", "Anytown PCT") in await _effects(running)

    await eventually(last_applied, what="the good message after the poison ones")
    dead = await read_topic(running["bootstrap"], running["dlq"], 5)
    # Dead letters keep their original keys, so they may sit on different partitions: order
    # them by where they came from.
    dead.sort(key=lambda r: int(headers_of(r)["dlq_source_offset"]))
    reasons = [headers_of(r)["dlq_reason"] for r in dead]
    assert reasons == [
        "undecodable",
        "unknown-event-type",
        "invalid-payload",
        "handler-failed",
        "rejected",
    ]
    failed = headers_of(dead[3])
    assert failed["dlq_attempts"] == "3"
    assert "cannot project" in failed["dlq_error"]
    assert failed["dlq_source_topic"] == running["topic"]
    rejected = headers_of(dead[4])  # refused by its handler: not retried
    assert rejected["dlq_attempts"] == "1" and "no recipient" in rejected["dlq_error"]
    assert dead[0].value == b"\x00not json"  # the original bytes are kept
    assert await _effects(running) == [("CD4", "Anytown PCT")]


async def test_a_message_waits_for_what_it_depends_on_and_only_then_is_dead_lettered(
    running: dict[str, Any],
) -> None:
    # What it depends on arrives while it waits (another consumer group's work): it lands.
    key, value, headers = await _event("WA1", name="waits")
    await _send(running, key, value, headers)
    await asyncio.sleep(1)
    assert await _effects(running) == []
    await running["pool"].execute("INSERT INTO known VALUES ('WA1')")

    async def landed() -> bool:
        return ("WA1", "waits") in await _effects(running)

    await eventually(landed, what="the waiting message once what it needs is known")
    # What never arrives: dead-lettered after the wait, saying so.
    key, value, headers = await _event("WA2", name="waits")
    await _send(running, key, value, headers)
    [dead] = await read_topic(running["bootstrap"], running["dlq"], 1, timeout=30)
    assert headers_of(dead)["dlq_reason"] == "not-yet-known"
    assert "nothing known of WA2" in headers_of(dead)["dlq_error"]


async def test_a_database_outage_delays_a_message_but_never_dead_letters_it(
    running: dict[str, Any], infra
) -> None:
    key, value, headers = await _event("DB1")
    infra.stop_postgres()
    try:
        await _send(running, key, value, headers)
        await asyncio.sleep(2)  # the consumer is failing to reach the database meanwhile
    finally:
        infra.start_postgres()

    async def applied() -> bool:
        try:
            return ("DB1", "Anytown PCT") in await _effects(running)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
            return False

    await eventually(applied, timeout=60, what="the message once the database is back")
    assert await read_topic(running["bootstrap"], running["dlq"], 1, timeout=3) == []


class _DeadLetters:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send(self, topic: str, key: Any, value: Any, headers: dict[str, str]) -> None:
        self.sent.append(headers)


async def test_one_poison_message_in_a_batch_is_isolated_and_the_rest_land(
    pg_pool: asyncpg.Pool,
) -> None:
    await pg_pool.execute("CREATE TABLE effects (code text, name text)")
    await pg_pool.execute("CREATE TABLE known (code text)")

    async def handler(conn, envelope, event: OrganisationRegistered) -> None:
        if event.name == "explode":
            raise ValueError("cannot project this organisation")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", event.code, event.name)

    dead = _DeadLetters()
    consumer = EventConsumer(
        "batch.consumer",
        pg_pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        dead,
        "dlq",
        max_attempts=2,
        backoff=0.01,
    )

    def message(offset: int, encoded: tuple[bytes, bytes, list]) -> IncomingMessage:
        key, value, headers = encoded
        return IncomingMessage("t", 0, offset, key, value, tuple(headers))

    good = [await _event(code) for code in ("BA1", "BA2", "BA3")]
    batch = [
        message(0, good[0]),
        message(1, await _event("BX1", "explode")),
        message(2, good[1]),
        IncomingMessage("t", 0, 3, b"k", b"{not json", (("ce_specversion", b"1.0"),)),
        message(4, good[2]),
        message(5, good[0]),  # the same event again, in the same batch
    ]
    outcomes = await consumer.process_batch(batch)
    assert outcomes == [
        Outcome.HANDLED,
        Outcome.DEAD_LETTERED,
        Outcome.HANDLED,
        Outcome.DEAD_LETTERED,
        Outcome.HANDLED,
        Outcome.DUPLICATE,
    ]
    rows = await pg_pool.fetch("SELECT code FROM effects ORDER BY code")
    assert [r["code"] for r in rows] == ["BA1", "BA2", "BA3"]
    assert sorted(h["dlq_reason"] for h in dead.sent) == ["handler-failed", "undecodable"]
    # Redelivered as a whole: nothing happens twice.
    again = await consumer.process_batch([message(0, good[0]), message(2, good[1])])
    assert again == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert await pg_pool.fetchval("SELECT count(*) FROM effects") == 3


# Messages a consumer has no handler for, as a consumer group of the release before a new event
# version meets them in a rolling upgrade (docs/contracts.md, "Versioning an event").


def _on(
    topic: str,
    offset: int,
    encoded: tuple[bytes, bytes, list],
    value: bytes | None = None,
    **h: str,
) -> IncomingMessage:
    """`encoded` at `offset` of `topic`, with the headers in `h` set (and `value` instead)."""
    key, body, headers = encoded
    kept = [(k, v) for k, v in headers if k not in h]
    return IncomingMessage(
        topic,
        0,
        offset,
        key,
        body if value is None else value,
        (*kept, *((k, v.encode()) for k, v in h.items())),
    )


def _at(position: int) -> dict[str, str]:
    return {"ce_position": str(position), "ce_previousposition": str(position - 1)}


async def _consume(consumer: EventConsumer, msgs: list[IncomingMessage], batched: bool):
    if batched:
        return await consumer.process_batch(msgs)
    return [await consumer.process(m) for m in msgs]


def _registration_consumer(pool: asyncpg.Pool, dead: _DeadLetters) -> EventConsumer:
    async def handler(conn, envelope, event: OrganisationRegistered) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", event.code, event.name)

    return EventConsumer(
        "unhandled.consumer",
        pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        dead,
        "dlq",
        max_attempts=2,
        backoff=0.01,
        delivery_delay=0.0,
    )


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
async def test_a_version_no_model_reads_is_ignored_where_its_type_is_not_handled(
    pg_pool: asyncpg.Pool, batched: bool
) -> None:
    await pg_pool.execute("CREATE TABLE effects (code text, name text)")
    dead = _DeadLetters()
    consumer = _registration_consumer(pg_pool, dead)
    reg, questionnaire = Topics.REGISTRATION, Topics.QUESTIONNAIRE
    msgs = [
        # The next release's AnswersSaved, on a topic where this group handles nothing.
        _on(
            questionnaire,
            0,
            await _event("UN1"),
            ce_type="questionnaire.AnswersSaved",
            ce_eventversion="99",
            **_at(1),
        ),
        # A known type at a version nobody has a model for, and a type nobody knows at all.
        _on(
            reg,
            0,
            await _event("UN2"),
            ce_type="registration.OrganisationRenamed",
            ce_eventversion="99",
            **_at(1),
        ),
        _on(reg, 1, await _event("UN3"), ce_type="registration.SomethingNew", **_at(2)),
        _on(reg, 2, await _event("UN4"), **_at(3)),  # handled: writes what was remembered
    ]
    outcomes = await _consume(consumer, msgs, batched)

    assert outcomes == [Outcome.IGNORED] * 3 + [Outcome.HANDLED]
    assert dead.sent == []
    assert await pg_pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    # Every position counts as received, in the transaction of the handled one: no hole for
    # gap detection to ask for again.
    assert await consumer.delivery.contiguous(questionnaire) == 1
    assert await consumer.delivery.contiguous(reg) == 3
    assert await consumer.delivery.gaps() == []
    assert await consumer.delivery.losses() == []


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
async def test_a_version_no_model_reads_is_still_dead_lettered_where_its_type_is_handled(
    pg_pool: asyncpg.Pool, batched: bool
) -> None:
    await pg_pool.execute("CREATE TABLE effects (code text, name text)")
    dead = _DeadLetters()
    consumer = _registration_consumer(pg_pool, dead)
    reg = Topics.REGISTRATION
    msgs = [
        _on(reg, 0, await _event("NV1"), ce_eventversion="99", **_at(1)),
        _on(reg, 1, await _event("NV2"), value=b"{not json", **_at(2)),
        _on(reg, 2, await _event("NV3"), **_at(3)),
    ]
    outcomes = await _consume(consumer, msgs, batched)

    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    assert [h["dlq_reason"] for h in dead.sent] == ["unknown-event-type", "undecodable"]
    assert [r["code"] for r in await pg_pool.fetch("SELECT code FROM effects")] == ["NV3"]
    assert await consumer.delivery.contiguous(reg) == 3


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
async def test_an_unhandled_types_value_is_never_decoded_but_bad_headers_still_are(
    pg_pool: asyncpg.Pool, batched: bool
) -> None:
    await pg_pool.execute("CREATE TABLE effects (code text, name text)")
    dead = _DeadLetters()
    consumer = _registration_consumer(pg_pool, dead)
    reg = Topics.REGISTRATION
    unhandled = await _event("BV1")
    msgs = [
        _on(
            reg, 0, unhandled, value=b"\x00not json", ce_type="registration.AccountLocked", **_at(1)
        ),
        # Headers that do not plainly say what the message is: decoded, and dead-lettered
        # as before, whatever its type.
        IncomingMessage(
            reg,
            0,
            1,
            b"k",
            b"{}",
            (("ce_specversion", b"1.0"), ("ce_type", b"registration.AccountLocked")),
        ),
        _on(reg, 2, unhandled, ce_type="registration.AccountLocked", ce_eventversion="two"),
    ]
    outcomes = await _consume(consumer, msgs, batched)

    assert outcomes == [Outcome.IGNORED, Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED]
    assert [h["dlq_reason"] for h in dead.sent] == ["undecodable", "undecodable"]
    await consumer.delivery.flush()  # what the watchdog does between messages
    assert await consumer.delivery.contiguous(reg) == 1
