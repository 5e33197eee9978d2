"""What recording every delivered store position costs a consumer (issue #24).

Run: `.venv/bin/python bench/consumer_tracking.py [--events 5000] [--rounds 3]`. Starts its own
PostgreSQL on a free port and feeds `EventConsumer` the same messages (valid CloudEvents, each
naming its position and the one before) through `process` (one transaction per message, as
notification, questionnaire and registration consume) and `process_batch` (500 per
transaction, as reporting does), with position tracking on and off, alternating, on fresh
tables each round. The handler writes one row, so the figures are the consumer's own cost plus
the minimum an effect costs. Prints JSON: messages/s per mode, best of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import asyncpg

from csm_contracts import Topics
from csm_contracts.cloudevents import encode_fields
from csm_contracts.events import OrganisationRegistered
from csm_kernel.consumer import EventConsumer, IncomingMessage
from csm_kernel.database import connect_pool, migrate
from harness import host_speed, private_stack

TOPIC = Topics.REGISTRATION


class _NoDeadLetters:
    async def send(self, *_: Any) -> None:
        raise AssertionError("nothing here should be dead-lettered")


def messages(count: int) -> list[IncomingMessage]:
    out = []
    for i in range(1, count + 1):
        code = f"B{i:04d}"[-5:]
        data = json.dumps(
            {
                "organisation_id": code,
                "code": code,
                "name": f"Org {i}",
                "kind": "pct",
                "region": "london",
            }
        )
        key, value, headers = encode_fields(
            event_id=f"00000000-0000-4000-8000-{i:012d}",
            event_type="registration.OrganisationRegistered",
            version=1,
            time="2009-10-01T09:30:00.000000+00:00",
            stream_id=f"organisation-{code}",
            stream_version=1,
            key=code,
            correlation_id="bench",
            causation_id=None,
            actor="bench",
            prev_hash="0" * 64,
            hash_="1" * 64,
            position=i,
            data_json=data,
            traceparent=None,
            previous_position=i - 1,
        )
        out.append(IncomingMessage(TOPIC, 0, i, key, value, tuple(headers)))
    return out


async def run_once(
    pool: asyncpg.Pool, msgs: list[IncomingMessage], *, batched: bool, tracked: bool, name: str
) -> float:
    await pool.execute("DROP TABLE IF EXISTS effects; CREATE TABLE effects (code text)")

    async def handler(conn: Any, _envelope: Any, event: OrganisationRegistered) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1)", event.code)

    consumer = EventConsumer(
        name,
        pool,
        {OrganisationRegistered.EVENT_TYPE: handler},
        _NoDeadLetters(),
        "dlq",
        tracked=lambda _topic: tracked,
    )
    started = time.perf_counter()
    if batched:
        for i in range(0, len(msgs), 500):
            await consumer.process_batch(msgs[i : i + 500])
    else:
        for msg in msgs:
            await consumer.process(msg)
    elapsed = time.perf_counter() - started
    assert await pool.fetchval("SELECT count(*) FROM effects") == len(msgs)
    if tracked:
        assert await consumer.delivery.contiguous(TOPIC) == len(msgs)
    return len(msgs) / elapsed


async def measure(dsn_base: str, events: int, rounds: int) -> dict[str, float]:
    admin = await asyncpg.connect(dsn_base + "postgres")
    await admin.execute('CREATE DATABASE "bench_consumer"')
    await admin.close()
    pool = await connect_pool(dsn_base + "bench_consumer", size=4)
    await migrate(pool, "bench", None)
    msgs = messages(events)
    best: dict[str, float] = {}
    for r in range(rounds):
        for batched in (False, True):
            for tracked in (False, True):
                how = "batch_500" if batched else "one_by_one"
                mode = f"{how}_{'tracked' if tracked else 'untracked'}"
                rate = await run_once(
                    pool, msgs, batched=batched, tracked=tracked, name=f"{mode}-{r}"
                )
                best[mode] = max(best.get(mode, 0.0), rate)
    await pool.close()
    return best


def main(events: int, rounds: int) -> None:
    with private_stack() as settings:
        best = asyncio.run(measure(settings.database_url(""), events, rounds))
    print(
        json.dumps(
            {
                "events": events,
                "rounds": rounds,
                **{k: round(v) for k, v in best.items()},
                **host_speed(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    main(args.events, args.rounds)
