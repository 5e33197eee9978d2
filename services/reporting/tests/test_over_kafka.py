"""Events reach the journal over a real broker, many per transaction, from every source topic
through one subscription; a message reporting cannot read goes to its dead-letter topic and
the rest carry on."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from csm_contracts import Topics
from csm_contracts.cloudevents import encode
from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.cycles import CycleScheduled
from csm_contracts.events.notifications import NotificationSent
from kafka_helpers import eventually, headers_of, read_topic
from reporting_history import TIMETABLE


async def test_every_event_is_journaled_once_and_a_poison_message_is_dead_lettered(
    reporting_app, infra
) -> None:
    h = reporting_app.history
    # Distinct codes: thirty drawn at random from 4,096 collided about one run in ten, and
    # then 29 organisations could never match 30 codes.
    codes = [f"K{n:03X}" for n in random.sample(range(0x1000), 30)]
    for code in codes:
        h.add(
            OrganisationRegistered(
                organisation_id=code, code=code, name=f"{code} PCT", kind="pct", region="london"
            )
        )
    registered = h.take()
    cycle = h.add(CycleScheduled(cycle="2031-32", timetable=TIMETABLE))
    sent = h.add(
        NotificationSent(
            organisation_id=codes[0],
            notification_id=uuid.uuid4().hex,
            kind="bulletin",
            recipient="lead@example.org",
            subject="Bulletin",
            attempts=1,
            sent_at=datetime(2009, 11, 3, tzinfo=UTC),
        )
    )
    h.take()
    poison_id = str(uuid.uuid4())
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        for i, envelope in enumerate(registered):
            key, value, headers = encode(envelope)
            await producer.send(Topics.REGISTRATION, value=value, key=key, headers=headers)
            if i == 10:
                await producer.send(
                    Topics.REGISTRATION,
                    value=b"{not json",
                    key=b"X",
                    headers=[("ce_specversion", b"1.0"), ("ce_id", poison_id.encode())],
                )
        # The same events again: redelivery must not journal anything twice.
        for envelope in registered[:5]:
            key, value, headers = encode(envelope)
            await producer.send(Topics.REGISTRATION, value=value, key=key, headers=headers)
        for topic, envelope in ((Topics.QUESTIONNAIRE, cycle), (Topics.NOTIFICATION, sent)):
            key, value, headers = encode(envelope)
            await producer.send(topic, value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    pool = reporting_app.services.pool
    everything = [e.event_id for e in [*registered, cycle, sent]]

    async def all_journaled() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM journal WHERE event_id = ANY($1::uuid[])", everything
        )
        return bool(n == len(everything))

    await eventually(all_journaled, timeout=90, what="every event journaled")

    async def all_projected() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM rm_organisations.organisations WHERE code = ANY($1::text[])",
            codes,
        )
        return bool(n == len(codes))

    await eventually(all_projected, timeout=30, what="every organisation projected")
    applied = await pool.fetch(
        "SELECT applied_events FROM rm_organisations.organisations WHERE code = ANY($1::text[])",
        codes,
    )
    assert {r["applied_events"] for r in applied} == {1}
    dead = await read_topic(infra.bootstrap, Topics.dead_letter("reporting"), 1, timeout=60)
    mine = [r for r in dead if headers_of(r).get("ce_id") == poison_id]
    assert len(mine) == 1 and headers_of(mine[0])["dlq_reason"] == "undecodable"
