"""`csm-reporting-rebuild`: a lost reporting database refilled from the services' event stores
or from the broker's topics from offset 0, then every projection rebuilt from it."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from aiokafka import AIOKafkaProducer

from csm_contracts import Topics
from csm_contracts.cloudevents import encode
from csm_contracts.events import OrganisationRegistered
from csm_kernel.database import connect_pool, migrate
from csm_kernel.settings import command_settings
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore
from reporting.adapters import history
from reporting.entrypoints import cli
from reporting.entrypoints.main import main


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


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The command configures logging for the process: put the suite's back afterwards."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        structlog.configure(**config)
        structlog.contextvars.clear_contextvars()
        root.handlers, root.level = handlers, level


def test_help_lists_rebuild_with_the_kernels_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "republish", "verify", "dead-letters", "rebuild"):
        assert command in out, command
    with pytest.raises(SystemExit):
        main(["rebuild", "--help"])
    assert "--from" in capsys.readouterr().out


async def _stack_databases(infra) -> None:
    """The databases `make run` makes (the embedded stack made them empty), as the services
    would have migrated them."""
    for name in ("reporting", *cli.STORES):
        admin = await asyncpg.connect(infra.dsn("postgres"))
        try:
            if not await admin.fetchval("SELECT true FROM pg_database WHERE datname = $1", name):
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        if name != "reporting":
            pool = await connect_pool(infra.dsn(name), size=1)
            try:
                await migrate(pool, name, None)
            finally:
                await pool.close()


def test_rebuild_next_to_make_run_needs_no_variables_of_its_own(
    infra, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restored_logging
) -> None:
    if infra.pg_password:  # a container's PostgreSQL: asyncpg reads the password from here
        monkeypatch.setenv("PGPASSWORD", infra.pg_password)
    asyncio.run(_stack_databases(infra))
    codes = [f"M{uuid.uuid4().hex[:4].upper()}" for _ in range(3)]

    async def registered_in_registration() -> None:
        pool = await connect_pool(infra.dsn("registration"), size=1)
        try:
            store = PostgresEventStore(pool)
            for code in codes:
                await store.append(
                    f"organisation-{code}",
                    0,
                    [NewEvent.from_payload(registered(code))],
                    AppendContext(actor="t"),
                )
        finally:
            await pool.close()

    asyncio.run(registered_in_registration())
    # Only what `make run` sets: the embedded servers' ports and its data directory.
    for name in ("CSM_DATABASE_URL", "CSM_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CSM_PG_PORT", str(infra.pg_port))
    monkeypatch.setenv("CSM_BROKER_PORT", infra.bootstrap.rsplit(":", 1)[1])
    monkeypatch.setenv("CSM_VAR_DIR", str(tmp_path))
    without_password = infra.dsn("reporting").replace(f":{infra.pg_password}@", "@")
    assert command_settings("reporting").database_url == without_password
    with pytest.raises(SystemExit) as exited:
        main(["rebuild", "--from", "stores", "-p", "organisations"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "new events from the stores" in out and "organisations:" in out
    assert asyncio.run(projected(infra.dsn("reporting"), codes)) == set(codes)


async def test_the_broker_is_read_with_the_services_kafka_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: dict[str, Any] = {}

    class Refused(Exception):
        pass

    def consumer(**options: Any) -> Any:
        made.update(options)
        raise Refused

    monkeypatch.setattr(history, "AIOKafkaConsumer", consumer)
    monkeypatch.setenv("CSM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CSM_KAFKA_USERNAME", "reporting")
    monkeypatch.setenv("CSM_KAFKA_PASSWORD", "secret")
    with pytest.raises(Refused):
        await anext(history.HistoryReaders().broker("kafka:9092", [Topics.REGISTRATION]))
    assert made["security_protocol"] == "SASL_PLAINTEXT"
    assert made["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (made["sasl_plain_username"], made["sasl_plain_password"]) == ("reporting", "secret")


def test_a_log_line_clears_the_bar_before_it_is_written(restored_logging) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logging.getLogger().handlers = [handler]
    logger = logging.getLogger("reporting.test")
    logger.setLevel(logging.INFO)
    with cli.Bar("rebuilding all", stream=out, force=True) as bar:
        bar.update(10, 100)
        logger.warning("skipped an undecodable message")
        bar.update(100, 100)
    logger.warning("after the bar")
    text = out.getvalue()
    drawn = text.index("rebuilding all [")
    cleared = text.index("\r\033[K", drawn)
    logged = text.index("skipped an undecodable message")
    assert drawn < cleared < logged  # the bar wiped, then the line written on a clean line
    assert "100% 100/100" in text[logged:]  # drawn again after it, and closed
    assert text.endswith("\nafter the bar\n")
    assert text.count("\r\033[K") == 1  # once the bar is closed, logs no longer clear it
