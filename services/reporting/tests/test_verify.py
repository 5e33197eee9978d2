"""`csm-reporting verify` checks what reporting holds, on a real database: each journal event's
hash against its stream's chain as received. A tampered event is reported broken at that
event; an intact journal holds, with its counts; an empty one has nothing to verify."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Sequence

import asyncpg

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationRegistered
from csm_kernel.hashing import GENESIS_HASH, chain_hash
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from progress_history import organisations, schedule
from reporting.adapters import journal
from reporting.entrypoints import cli
from reporting.entrypoints.cli import NOTHING, verify
from reporting.entrypoints.main import main
from reporting_history import History


def chained(envelopes: Sequence[EventEnvelope]) -> list[EventEnvelope]:
    """The events with real hash chains (as a service's store writes them), one caused by
    another so that its causation id counts."""
    heads: dict[str, str] = {}
    out = []
    for i, e in enumerate(envelopes):
        prev = heads.get(e.stream_id, GENESIS_HASH)
        caused = str(envelopes[0].event_id) if i == len(envelopes) - 1 else None
        e = e.model_copy(update={"prev_hash": prev, "causation_id": caused})
        e = e.model_copy(update={"hash": chain_hash(prev, e.hashed_content())})
        heads[e.stream_id] = e.hash
        out.append(e)
    return out


async def run(dsn: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = await verify(dsn, out)
    return status, out.getvalue().splitlines()


async def test_verify_checks_every_journal_event_against_its_stream_chain(infra) -> None:
    dsn = await infra.create_database("rep_verify")
    assert await run(dsn) == (0, [NOTHING])

    h = History()
    organisations(h)  # three organisations, one stream each
    schedule(h)  # the cycle's stream: four events
    events = chained(h.take())
    assert events[-1].causation_id is not None
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            assert await journal.record(conn, events) == 7
        assert await run(dsn) == (
            0,
            ["checked 7 journal events in 4 streams: every stream's hash chain holds as received"],
        )

        # Change the second event of the cycle's stream as reporting holds it.
        tampered = events[4]
        assert tampered.stream_version == 2
        seq = await conn.fetchval(
            "UPDATE journal SET data = jsonb_set(data, '{phase}', '\"closed\"')"
            " WHERE event_id = $1 RETURNING seq",
            tampered.event_id,
        )
    finally:
        await conn.close()
    status, lines = await run(dsn)
    assert status == 1
    # Its stream is broken there (and only its first broken link is told); the others hold.
    assert lines == [
        f"BROKEN {tampered.stream_id} at version 2: content does not match its hash"
        f" (seen at journal position {seq})",
        "checked 7 journal events in 4 streams: 1 broken",
    ]


async def test_a_link_missing_from_the_journal_is_reported(infra) -> None:
    dsn = await infra.create_database("rep_verify")
    h = History()
    schedule(h)
    events = chained(h.take())
    # The second event never reached reporting: the third does not follow the first.
    conn = await asyncpg.connect(dsn)
    try:
        await verify(dsn, io.StringIO())  # migrates
        async with conn.transaction():
            await journal.record(conn, [events[0], *events[2:]])
    finally:
        await conn.close()
    status, lines = await run(dsn)
    assert status == 1
    assert lines[0] == f"BROKEN {events[0].stream_id} at version 2: version 2 is missing" + (
        " (seen at journal position 2)"
    )


async def test_csm_reporting_verify_is_reportings_own(infra, capsys) -> None:
    dsn = await infra.create_database("rep_verify")

    def command(*args: str) -> int:
        try:
            main(["verify", *args])
        except SystemExit as done:
            return int(done.code or 0)
        raise AssertionError("no exit status")

    assert await asyncio.to_thread(command, "--database-url", dsn) == 0
    assert NOTHING in capsys.readouterr().out


async def test_an_event_journalled_before_causation_ids_were_kept_says_so(infra) -> None:
    dsn = await infra.create_database("rep_verify")
    h = History()
    schedule(h)
    events = chained(h.take())
    await verify(dsn, io.StringIO())  # migrates
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await journal.record(conn, events)
        # As the migration leaves an event journalled before it: its causation id unknown.
        await conn.execute(
            "UPDATE journal SET causation_id = NULL, causation_kept = false WHERE event_id = $1",
            events[-1].event_id,
        )
    finally:
        await conn.close()
    status, lines = await run(dsn)
    assert status == 1
    assert lines[0].startswith(f"BROKEN {events[-1].stream_id} at version 4: content does not")
    assert "journalled before reporting kept causation ids" in lines[0]


async def test_a_journal_refilled_from_a_real_event_store_holds(infra, pg_pool) -> None:
    # Hashes as the kernel's store computes them (not this file's), through the refill.
    store = PostgresEventStore(pg_pool)
    for code in ("V01", "V02"):
        await store.append(
            f"organisation-{code}",
            0,
            [NewEvent.from_payload(registered(code))],
            AppendContext(actor="t"),
        )
    await store.append(
        "organisation-V01",
        1,
        [NewEvent.from_payload(registered("V01").model_copy(update={"name": "Renamed PCT"}))],
        AppendContext(actor="t", causation_id=str(uuid.uuid4())),
    )
    store_url = infra.dsn(await pg_pool.fetchval("SELECT current_database()"))
    dsn = await infra.create_database("rep_verify")
    args = [
        "--from",
        "stores",
        "--store-url",
        store_url,
        "--database-url",
        dsn,
        "-p",
        "organisations",
    ]
    await cli.run(cli.build_parser().parse_args(args))
    assert await run(dsn) == (
        0,
        ["checked 3 journal events in 2 streams: every stream's hash chain holds as received"],
    )


def registered(code: str) -> OrganisationRegistered:
    return OrganisationRegistered(
        organisation_id=code, code=code, name=f"{code} PCT", kind="pct", region="london"
    )
