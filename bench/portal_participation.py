"""The national team's participation page with 5,000 organisations: the portal's page over
reporting's `GET /cycles/{cycle}/participation`, timed as a browser would ask for it.

Run: `.venv/bin/python bench/portal_participation.py` (default `--scale 1`: 5,000
organisations; about three minutes, most of it making the history). `--scale 0.1` for a quick
run.

It starts its own embedded PostgreSQL and broker on free ports in a temporary directory, then:

0. **The organisations and their returns**: the synthetic national history of
   `reporting_history.py` (5,000 organisations registered with their leads, two cycles of
   questionnaires issued, saved, delegated, submitted, signed off, extended and reopened:
   about 875,000 contract events at scale 1), made afresh on every run and COPYed into the
   reporting database's journal as the service's consumers would have journalled it (the bulk
   path), then every projection rebuilt as `csm-reporting-rebuild` does and the database
   vacuumed (as autovacuum soon would).
1. **The services**: the REAL reporting service and portal, each its own process
   (`csm-reporting serve`, `csm-portal serve`), the portal verifying a national admin's
   signed token from its session cookie as it does after sign-in.
2. **The page**: for each of several filter/sort/page combinations (`COMBINATIONS`),
   `--warmup` unmeasured then `--requests` measured GETs of
   `/national/cycles/2009-10/participation?...` one after another on a keep-alive
   connection, timed at the client (request written to the whole page read); each answer must
   be a 200 page showing the organisations. Reported: p50/p95/p99/max per combination and over
   all of them, and the CPU milliseconds a page cost the portal, the reporting service and
   PostgreSQL (their processes' user+system time over the measured requests, divided by the
   requests). The CSV download of a filtered list is timed the same way.
3. **The weekly progress report** (`cycle-progress-over-time`, per region week by week,
   replayed from the journal): `--report-requests` GETs of reporting's
   `/reports/cycle-progress-over-time?cycle=2009-10` as JSON, after 2 unmeasured, with the
   CPU milliseconds a request cost reporting and PostgreSQL.

Target (issue #19, 2-core machine): the page answers in under 1 s at p95 over 50 requests.
"""

# ruff: noqa: E402
from __future__ import annotations

import sys
from pathlib import Path

# bench/reporting.py would shadow the reporting service's package: look for siblings last.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH] + [str(_BENCH)]

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any

import asyncpg
from questionnaire_answers import (
    Cpu,
    Http,
    Service,
    latency_figures,
    postmaster_pid,
    wait_ready,
)

from csm_contracts.auth import Role
from csm_infra.settings import InfraSettings
from csm_kernel.auth import Principal, TokenSigner, ensure_keypair
from csm_kernel.database import migrate
from harness import host_speed, private_stack, report
from reporting.adapters.projections import PROJECTIONS
from reporting.adapters.projector import Projector
from reporting_history import generate, load

CYCLE = "2009-10"
PAGE = f"/national/cycles/{CYCLE}/participation"
#: The weekly progress report (`cycle-progress-over-time`), replayed from the journal.
WEEKLY = f"/reports/cycle-progress-over-time?cycle={CYCLE}"

#: (name, query string): what the national team asks for most.
COMBINATIONS = (
    ("first page by name", ""),
    ("overdue, by deadline", "status=overdue&sort=deadline"),
    ("London, latest activity first, page 3", "region=london&sort=last-activity&order=desc&page=3"),
    ("search 'trust', by status", "q=trust&sort=status"),
    ("PCTs in progress, page 2", "kind=pct&status=in-progress&page=2"),
    (
        "in progress in the north west, by region",
        "region=north-west&status=in-progress&sort=region",
    ),
    ("page 150 by name, descending", "order=desc&page=150"),
)


def _token(settings: InfraSettings) -> str:
    private_file, _ = ensure_keypair(settings.keys_dir)
    signer = TokenSigner(private_file.read_bytes(), ttl_seconds=3600)
    principal = Principal(uuid.uuid4().hex, uuid.uuid4().hex, frozenset({Role.NATIONAL_ADMIN}))
    return signer.issue(principal)[0]


@contextlib.contextmanager
def process(settings: InfraSettings, service: str) -> Iterator[Service]:
    env = {**os.environ, **settings.service_env(service), "CSM_WORKERS": "1"}
    env.setdefault("CSM_LOG_LEVEL", "WARNING")
    if service == "portal":
        env.pop("CSM_DATABASE_URL", None)
        env["CSM_MAILBOX_ENABLED"] = "false"
    log = settings.log_dir / f"{service}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).parent / f"csm-{service}")
    with log.open("ab") as out:
        proc = subprocess.Popen([exe, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Service(proc, settings.service_ports[service], log)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_ms(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    return {k: round(1000 * (after[k] - before[k]) / n, 1) for k in before}


async def timed(
    http: Http, path: str, cookie: bytes, n: int, warmup: int, cpus: dict[str, Cpu]
) -> tuple[list[float], dict[str, float], int]:
    """`warmup` then `n` timed GETs of `path`: latencies (ms), CPU ms a request per process,
    and the size of the last answer."""
    for _ in range(warmup):
        await http.request("GET", path, cookie)
    before = {name: cpu.sample()["service"] for name, cpu in cpus.items()}
    pg_before = next(iter(cpus.values())).sample()["postgres"]
    latencies = []
    size = 0
    for _ in range(n):
        started = time.perf_counter()
        status, body = await http.request("GET", path, cookie)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:500]!r}")
        size = len(body)
    after = {name: cpu.sample()["service"] for name, cpu in cpus.items()}
    pg_after = next(iter(cpus.values())).sample()["postgres"]
    used = _cpu_ms({**before, "postgres": pg_before}, {**after, "postgres": pg_after}, n)
    return latencies, used, size


async def run(args: argparse.Namespace, settings: InfraSettings) -> dict[str, Any]:
    results: dict[str, Any] = {"benchmark": "portal_participation", "scale": args.scale}
    started = time.perf_counter()
    history = generate(args.scale, args.seed)
    results["history_generate_seconds"] = round(time.perf_counter() - started, 1)
    results["history_events"] = len(history.events)
    results["organisations"] = history.organisations
    print(f"history: {len(history.events):,} events", file=sys.stderr, flush=True)
    pool = await asyncpg.create_pool(settings.database_url("reporting"), min_size=1, max_size=6)
    assert pool is not None
    try:
        await migrate(pool, "reporting", resources.files("reporting.adapters").joinpath("sql"))
        started = time.perf_counter()
        await load(pool, history.events)
        history.events.clear()
        projector = Projector(pool, PROJECTIONS)
        await projector.prepare()
        await projector.rebuild_all()
        async with pool.acquire() as conn:
            await conn.execute("VACUUM (ANALYZE)")
            results["organisations_owing_returns"] = await conn.fetchval(
                "SELECT count(DISTINCT organisation_id) FROM rm_progress.prog_questionnaires"
                " WHERE cycle = $1",
                CYCLE,
            )
            results["questionnaires_in_cycle"] = await conn.fetchval(
                "SELECT count(*) FROM rm_progress.prog_questionnaires WHERE cycle = $1", CYCLE
            )
        results["load_rebuild_vacuum_seconds"] = round(time.perf_counter() - started, 1)
        print("loaded and rebuilt", file=sys.stderr, flush=True)
    finally:
        await pool.close()

    token = _token(settings)
    cookie = f"cookie: csm_session={token}\r\n".encode()
    bearer = f"authorization: Bearer {token}\r\n".encode()
    with process(settings, "reporting") as reporting, process(settings, "portal") as portal:
        await wait_ready(reporting)
        await wait_ready(portal)
        pg = postmaster_pid(settings)
        cpus = {
            "portal": Cpu(portal.proc.pid, pg, None),
            "reporting": Cpu(reporting.proc.pid, pg, None),
        }
        http = Http("127.0.0.1", portal.port)
        every: list[float] = []
        cpu_total: dict[str, float] = {}
        per: dict[str, Any] = {}
        try:
            for name, query in COMBINATIONS:
                path = f"{PAGE}?{query}" if query else PAGE
                latencies, cpu_ms, size = await timed(
                    http, path, cookie, args.requests, args.warmup, cpus
                )
                every += latencies
                for k, v in cpu_ms.items():
                    cpu_total[k] = cpu_total.get(k, 0.0) + v
                per[name] = {
                    "query": query,
                    **latency_figures("page", latencies),
                    **{f"cpu_{k}_ms": v for k, v in cpu_ms.items()},
                    "page_bytes": size,
                }
                print(f"  {name}: {per[name]}", file=sys.stderr, flush=True)
            latencies, cpu_ms, size = await timed(
                http, f"{PAGE}.csv?status=overdue", cookie, args.csv_requests, 1, cpus
            )
            results["csv_overdue"] = {
                **latency_figures("csv", latencies),
                **{f"cpu_{k}_ms": v for k, v in cpu_ms.items()},
                "csv_bytes": size,
            }
            # The weekly progress report, as JSON straight from reporting (the portal's page
            # over it also asks questionnaire for the cycles, which this bench does not run).
            weekly = Http("127.0.0.1", reporting.port)
            try:
                latencies, cpu_ms, size = await timed(
                    weekly,
                    WEEKLY,
                    bearer,
                    args.report_requests,
                    2,
                    {"reporting": cpus["reporting"]},
                )
                _, body = await weekly.request("GET", WEEKLY, bearer)
                results["weekly_progress_report"] = {
                    "path": WEEKLY,
                    "weeks_by_region_rows": len(json.loads(body)["tables"][0]["rows"]),
                    **latency_figures("report", latencies),
                    **{f"cpu_{k}_ms": v for k, v in cpu_ms.items()},
                    "report_bytes": size,
                    "requests": args.report_requests,
                }
                print(f"  weekly: {results['weekly_progress_report']}", file=sys.stderr)
            finally:
                await weekly.close()
        finally:
            await http.close()
    results["combinations"] = per
    results.update(latency_figures("all_pages", every))
    results["requests_per_combination"] = args.requests
    results.update(
        {f"cpu_{k}_ms_per_page": round(v / len(COMBINATIONS), 1) for k, v in cpu_total.items()}
    )
    results["target_p95_ms"] = 1000
    results["met"] = all(v["page_p95_ms"] < 1000 for v in per.values())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20091123)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--csv-requests", type=int, default=10)
    parser.add_argument("--report-requests", type=int, default=50)
    args = parser.parse_args()
    speed = host_speed()
    with private_stack() as settings:
        results = asyncio.run(run(args, settings))
    report(host_speed_at_start=speed, **results)


if __name__ == "__main__":
    main()
