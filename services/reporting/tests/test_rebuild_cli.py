"""`csm-reporting-rebuild`: a lost reporting database refilled from the services' event stores
or from the broker's topics from offset 0, then every projection rebuilt from it."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaProducer

from csm_contracts import Topics
from csm_contracts.cloudevents import encode
from csm_contracts.events import OrganisationRegistered
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from reporting.entrypoints import cli


def registered(code: str) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=code, code=code, name=f"{code} PCT", kind="pct", region="london"
    )


async def projected(dsn: str, codes: list[str]) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT code FROM rm_organisations.organisations WHERE code = ANY($1::text[])", codes
        )
        return {r["code"] for r in rows}
    finally:
        await conn.close()


async def test_rebuild_from_the_services_event_stores(infra, pg_pool) -> None:
    # pg_pool is a database with the kernel's event store: registration's, say.
    store = PostgresEventStore(pg_pool)
    codes = [f"S{i:02d}" for i in range(12)]
    for code in codes:
        await store.append(
            f"organisation-{code}",
            0,
            [NewEvent.from_payload(registered(code))],
            AppendContext(actor="t"),
        )
    store_url = infra.dsn(await pg_pool.fetchval("SELECT current_database()"))
    reporting = await infra.create_database("rep_cli")
    args = ["--from", "stores", "--store-url", store_url, "--database-url", reporting]
    await cli.run(cli.build_parser().parse_args(args))
    assert await projected(reporting, codes) == set(codes)
    # Run again: the journal already has every event, nothing doubles.
    await cli.run(cli.build_parser().parse_args(args))
    conn = await asyncpg.connect(reporting)
    try:
        assert await conn.fetchval("SELECT count(*) FROM journal") == len(codes)
    finally:
        await conn.close()


async def test_rebuild_from_the_broker_from_offset_zero(infra, reporting_db) -> None:
    h = reporting_db.history
    codes = [f"B{uuid.uuid4().hex[:3].upper()}" for _ in range(5)]
    envelopes = [h.add(registered(code)) for code in codes]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            key, value, headers = encode(envelope)
            await producer.send_and_wait(Topics.REGISTRATION, value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    reporting = await infra.create_database("rep_cli_broker")
    args = [
        "--from",
        "broker",
        "--bootstrap",
        infra.bootstrap,
        "--database-url",
        reporting,
        "-p",
        "organisations",
    ]
    await cli.run(cli.build_parser().parse_args(args))
    assert await projected(reporting, codes) == set(codes)
