"""The operator's commands: `--help` lists every one, `verify` says how much it checked, and a
command finds the service's database the way `make run` sets it up (`CSM_PG_PORT`)."""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
from collections.abc import Iterator

import pytest
import structlog
from fastapi import FastAPI

from csm_kernel.commands import run_command
from csm_kernel.database import connect_pool, migrate
from csm_kernel.progress import Progress
from csm_kernel.runtime import ServiceCommand, service_main
from csm_kernel.settings import ServiceSettings, command_settings
from csm_kernel.store import AppendContext
from csm_kernel.store.postgres import PostgresEventStore
from store_contract import ev


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """`service_main` configures logging for the process: put the suite's back afterwards."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        structlog.configure(**config)
        structlog.contextvars.clear_contextvars()
        root.handlers, root.level = handlers, level


def _factory(_: ServiceSettings) -> FastAPI:
    return FastAPI()


def _hello() -> ServiceCommand:
    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--who", required=True)

    def run(args: argparse.Namespace, settings: ServiceSettings) -> int:
        print(f"hello {args.who} on {settings.database_url}")
        return 3

    return ServiceCommand("say hello", arguments, run)


def test_help_lists_every_command_the_service_has(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        service_main("things", _factory, {"create-account": _hello()}, argv=["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "republish", "verify", "dead-letters", "create-account"):
        assert command in out, command


def test_a_service_command_reads_the_stacks_settings(
    capsys, monkeypatch: pytest.MonkeyPatch, restored_logging
) -> None:
    monkeypatch.delenv("CSM_DATABASE_URL", raising=False)
    monkeypatch.setenv("CSM_PG_PORT", "56999")
    with pytest.raises(SystemExit) as exited:
        service_main("things", _factory, {"hello": _hello()}, argv=["hello", "--who", "ops"])
    assert exited.value.code == 3
    assert "hello ops on postgresql://postgres@127.0.0.1:56999/things" in capsys.readouterr().out


def test_command_settings_follow_the_embedded_stack_unless_told() -> None:
    plain = command_settings("reporting", {})
    assert plain.database_url == "postgresql://postgres@127.0.0.1:55432/reporting"
    assert plain.kafka_bootstrap == "127.0.0.1:19092"
    moved = command_settings("reporting", {"CSM_PG_PORT": "6000", "CSM_BROKER_PORT": "7000"})
    assert moved.database_url.endswith(":6000/reporting")
    assert moved.kafka_bootstrap == "127.0.0.1:7000"


def test_verify_says_how_many_events_and_streams_it_checked(infra, capsys) -> None:
    dsn = asyncio.run(infra.create_database("verify"))
    database = dsn.rsplit("/", 1)[1]

    async def fill() -> None:
        pool = await connect_pool(dsn, size=2)
        try:
            await migrate(pool, "test", None)
            store = PostgresEventStore(pool)
            for i in range(7):
                await store.append(f"org-{i % 3}", i // 3, [ev(i)], AppendContext(actor="t"))
        finally:
            await pool.close()

    asyncio.run(fill())
    settings = command_settings(database, {"CSM_PG_PORT": str(infra.pg_port)})
    assert run_command(argparse.Namespace(command="verify"), settings) == 0
    out = capsys.readouterr().out
    assert "checked 7 events in 3 streams: every stream's hash chain holds" in out

    async def tamper() -> None:
        pool = await connect_pool(dsn, size=1)
        try:
            await pool.execute("UPDATE events SET data = '{\"i\": 99}' WHERE position = 4")
        finally:
            await pool.close()

    asyncio.run(tamper())
    assert run_command(argparse.Namespace(command="verify"), settings) == 1
    out = capsys.readouterr().out
    assert "checked 7 events in 3 streams: 1 broken" in out and "BROKEN org-" in out


def test_the_progress_bar_counts_up_to_its_total() -> None:
    shown = io.StringIO()
    progress = Progress("verifying", 200, stream=shown, force=True)
    for done in range(1, 201):
        progress.update(done)
    progress.close()
    text = shown.getvalue()
    assert text.endswith("\n") and "100% 200/200" in text
    quiet = io.StringIO()
    Progress("verifying", 10**6, stream=quiet).update(5)  # not a terminal: nothing drawn
    assert quiet.getvalue() == ""
