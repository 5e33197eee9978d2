"""What one save costs the whole platform, for the capacity model (docs/capacity.md).

    .venv/bin/python bench/capacity_costs.py [--users 100] [--rate 150] [--seconds 20]

On a private embedded stack (PostgreSQL and the broker on free ports), the questionnaire
service and then the reporting service run as their own processes, and mapping leads save
self-assessment answers over HTTP at a paced rate (`--rate` saves/s offered in all):

- phase A, the questionnaire service alone: its CPU, PostgreSQL's CPU, the broker's CPU and
  the WAL PostgreSQL writes, per save (the save, its event, the outbox relay publishing it);
- then reporting starts and catches up (not measured: start-up and a backlog);
- phase B, both services live at the same rate: reporting's CPU per event projected, and what
  PostgreSQL and its WAL cost on top of phase A's per save: the projection's share.

CPU is read from /proc (user + system time of each process and of PostgreSQL's backends), WAL
from `pg_stat_wal` (the whole cluster, so the phases run one after the other). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import asyncpg
from questionnaire_answers import (
    Cpu,
    Http,
    Tokens,
    User,
    broker_pid,
    postmaster_pid,
    run_users,
    service_process,
    set_up,
    wait_ready,
)

from csm_contracts.auth import Role
from csm_infra.settings import InfraSettings
from harness import private_stack, report
from questionnaire.application.catalogue import shipped_catalogue
from questionnaire.domain.definition import DefinitionKind


def _reporting_bench() -> Any:
    """bench/reporting.py, whose name is the reporting service's package's: loaded by path."""
    path = Path(__file__).with_name("reporting.py")
    spec = importlib.util.spec_from_file_location("reporting_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def wal(dsn: str) -> dict[str, int]:
    """The cluster's WAL so far: bytes, records and full-page images."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT wal_bytes, wal_records, wal_fpi FROM pg_stat_wal")
    finally:
        await conn.close()
    return {"bytes": int(row["wal_bytes"]), "records": row["wal_records"], "fpi": row["wal_fpi"]}


def per(total: float, count: int, scale: float = 1000.0) -> float:
    return round(scale * total / max(count, 1), 3)


async def run(args: argparse.Namespace, settings: InfraSettings) -> dict[str, Any]:
    tokens = Tokens(settings)
    questions = list(shipped_catalogue().latest(DefinitionKind.SELF_ASSESSMENT).questions)
    pcts = [f"P{n:04d}" for n in range(1, args.users + 1)]
    dsn = settings.database_url("questionnaire")
    out: dict[str, Any] = {"users": args.users, "offered_per_s": args.rate}
    interval = args.users / args.rate
    with service_process(settings, None) as service:
        await wait_ready(service)
        setup = Http("127.0.0.1", service.port)
        _, ids = await set_up(setup, dsn, tokens, pcts)
        await setup.close()

        def lead(org: str) -> User:
            return User(
                f"lead-{org}",
                Http("127.0.0.1", service.port),
                tokens.headers(Role.MAPPING_LEAD, org),
                f"/questionnaires/{ids[org]}",
            )

        users = [lead(org) for org in pcts]
        cpu = Cpu(service.proc.pid, postmaster_pid(settings), broker_pid(settings))
        await run_users(users, questions, 3, cpu, retry=False, interval=interval)  # warm up

        # A: the questionnaire service alone.
        before = await wal(dsn)
        cpu.begin()
        start = cpu.start
        tally, elapsed, _ = await run_users(
            users, questions, args.seconds, cpu, retry=False, interval=interval
        )
        now = cpu.sample()
        after = await wal(dsn)
        saves = tally.saves
        out["a_saves"] = saves
        out["a_saves_per_s"] = round(saves / elapsed)
        out["a_service_cpu_ms_per_save"] = per(now["service"] - start["service"], saves)
        out["a_postgres_cpu_ms_per_save"] = per(now["postgres"] - start["postgres"], saves)
        out["a_broker_cpu_ms_per_save"] = per(now["broker"] - start["broker"], saves)
        out["a_client_cpu_ms_per_save"] = per(now["client"] - start["client"], saves)
        out["a_wal_bytes_per_save"] = per(after["bytes"] - before["bytes"], saves, 1)
        out["a_wal_records_per_save"] = per(after["records"] - before["records"], saves, 1)
        out["a_wal_fpi_per_save"] = per(after["fpi"] - before["fpi"], saves, 1)
        pg_per_save = (now["postgres"] - start["postgres"]) / max(saves, 1)
        wal_per_save = (after["bytes"] - before["bytes"]) / max(saves, 1)
        broker_per_save = (now["broker"] - start["broker"]) / max(saves, 1)

        # Reporting joins and catches up on everything so far (not measured).
        bench = _reporting_bench()
        with bench.reporting_service(settings) as reporting:
            await wait_ready(reporting)
            admin = tokens.headers(Role.NATIONAL_ADMIN)
            await bench.caught_up(reporting, admin, limit=600)
            reporting_pid = reporting.proc.pid

            def reporting_cpu() -> float:
                return Cpu(reporting_pid, 0, None).sample()["service"]

            # B: both live.
            before = await wal(dsn)
            r0 = reporting_cpu()
            cpu.begin()
            start = cpu.start
            tally, elapsed, _ = await run_users(
                users, questions, args.seconds, cpu, retry=False, interval=interval
            )
            await bench.caught_up(reporting, admin, limit=600)
            r1 = reporting_cpu()
            now = cpu.sample()
            after = await wal(dsn)
        saves = tally.saves
        out["b_saves"] = saves
        out["b_saves_per_s"] = round(saves / elapsed)
        out["b_service_cpu_ms_per_save"] = per(now["service"] - start["service"], saves)
        out["b_reporting_cpu_ms_per_event"] = per(r1 - r0, saves)
        pg = (now["postgres"] - start["postgres"]) / max(saves, 1)
        out["b_postgres_cpu_ms_per_save_and_projection"] = round(1000 * pg, 3)
        out["b_postgres_cpu_ms_per_event_projected"] = round(1000 * (pg - pg_per_save), 3)
        wal_b = (after["bytes"] - before["bytes"]) / max(saves, 1)
        out["b_wal_bytes_per_save_and_projection"] = round(wal_b)
        out["b_wal_bytes_per_event_projected"] = round(wal_b - wal_per_save)
        broker = (now["broker"] - start["broker"]) / max(saves, 1)
        out["b_broker_cpu_ms_per_save_and_delivery"] = round(1000 * broker, 3)
        out["b_broker_cpu_ms_per_event_delivered"] = round(1000 * (broker - broker_per_save), 3)
        for u in users:
            await u.http.close()
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=150, help="saves/s offered in all")
    parser.add_argument("--seconds", type=float, default=20, help="for each phase")
    args = parser.parse_args()
    started = time.perf_counter()
    with private_stack() as settings:
        figures = asyncio.run(run(args, settings))
    report(**figures, wall_seconds=round(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
