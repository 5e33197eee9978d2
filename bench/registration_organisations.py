"""Registration's bulk organisation import on this machine, against the embedded real servers.

Run: `.venv/bin/python bench/registration_organisations.py --organisations 5000`. Starts its own
PostgreSQL and broker on free loopback ports in a temporary directory, runs the real
registration app in-process (its relay publishing to the broker meanwhile) and drives
`POST /organisations/import` over ASGI with a CSV file of a realistic mix: local authorities,
split PCTs (both parts, linked), NHS trusts, and third-sector and private providers mapped by a
PCT, each in one or more LA partnership areas. Prints one JSON document of figures:

- the first import (every organisation new): organisations/s, end to end (parse, validate,
  plan, one transaction of appends and list rows);
- the same file again (idempotent: nothing to append): rows/s;
- the file with 10 % of the names changed: rows/s and the events appended;
- the national listing (`GET /organisations?region=...&limit=100`): p50/p99 latency;
- with `--leads N`: nominating N organisations' mapping leads as bulk registration does, one
  `PUT /organisations/{code}/lead` each (before) and `POST /organisations/leads` 500 at a time
  (after), each over its own N organisations (so `--organisations` must be at least 2N): wall
  seconds, leads/s, and CPU ms per lead of this process (the app and its client) and of
  PostgreSQL. Over ASGI in-process, so the one-by-one figure leaves out the network and the
  portal's own cost per request, which only widen the gap.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from questionnaire_answers import _children, _cpu_of, postmaster_pid

from csm_contracts.auth import Role
from csm_contracts.events import Region
from csm_kernel.auth import Principal, TokenSigner, ensure_keypair
from csm_kernel.settings import ServiceSettings
from harness import private_stack, report
from registration.bootstrap import build_app

REGIONS = [r.value for r in Region]
HEADER = "code,name,kind,region,partnership_areas,linked_organisation_id,mapped_by\n"


def organisations_csv(total: int, renamed_every: int | None = None) -> bytes:
    """`total` organisations: 3 % LAs, 6 % PCT parts (pairs), 5 % trusts, the rest providers.
    With `renamed_every`, every n-th organisation has a new name."""
    las = max(1, total * 3 // 100)
    pairs = max(1, total * 3 // 100)
    trusts = max(1, total * 5 // 100)
    providers = total - las - 2 * pairs - trusts
    rows: list[str] = []
    trust_kinds = ["nhs-trust-acute", "nhs-trust-mental-health", "nhs-trust-community"]

    def row(code: str, name: str, kind: str, region: str, areas: str, link: str, lead: str) -> None:
        n = len(rows) + 1
        if renamed_every and n % renamed_every == 0:
            name += " (renamed)"
        rows.append(f"{code},{name},{kind},{region},{areas},{link},{lead}")

    def area(i: int) -> str:
        return f"L{i % las:04d}"

    for i in range(las):
        row(area(i), f"Council {i}", "local-authority", REGIONS[i % 9], "", "", "")
    for i in range(pairs):
        region, areas = REGIONS[i % 9], f"{area(i)};{area(i + 1)}"
        row(
            f"C{i:04d}",
            f"PCT {i} Commissioning",
            "pct-commissioning",
            region,
            areas,
            f"P{i:04d}",
            "",
        )
        row(f"P{i:04d}", f"PCT {i} Provider", "pct-provider", region, areas, f"C{i:04d}", "")
    for i in range(trusts):
        row(f"T{i:04d}", f"Trust {i}", trust_kinds[i % 3], REGIONS[i % 9], area(i), "", "")
    for i in range(providers):
        kind, prefix = ("third-sector", "N") if i % 3 else ("private-provider", "Q")
        row(
            f"{prefix}{i:04d}",
            f"Provider {i}",
            kind,
            REGIONS[i % 9],
            area(i),
            "",
            f"C{i % pairs:04d}",
        )
    return (HEADER + "\n".join(rows) + "\n").encode()


def _postgres_cpu(postmaster: int) -> float:
    return _cpu_of(postmaster) + sum(_cpu_of(p) for p in _children(postmaster))


async def nominate_leads(
    client: httpx.AsyncClient, codes: list[str], postmaster: int
) -> dict[str, Any]:
    """Leads for the first half of `codes` one request each, then for the second half in
    batches of 500: seconds and CPU per lead of each way."""
    half = len(codes) // 2
    out: dict[str, Any] = {"leads_each_way": half}
    ways = (("one_by_one", codes[:half]), ("batched_500", codes[half : 2 * half]))
    for way, chosen in ways:
        cpu, pg = time.process_time(), _postgres_cpu(postmaster)
        start = time.perf_counter()
        if way == "one_by_one":
            for code in chosen:
                r = await client.put(
                    f"/organisations/{code}/lead",
                    json={"email": f"lead-{code.lower()}@bench.example", "name": f"Lead {code}"},
                )
                assert r.status_code == 201, r.text
        else:
            for at in range(0, len(chosen), 500):
                batch = [
                    {"code": c, "email": f"lead-{c.lower()}@bench.example", "name": f"Lead {c}"}
                    for c in chosen[at : at + 500]
                ]
                r = await client.post("/organisations/leads", json={"leads": batch})
                assert r.status_code == 200 and r.json()["refused"] == 0, r.text[:2000]
        elapsed = time.perf_counter() - start
        out[f"leads_{way}_seconds"] = round(elapsed, 2)
        out[f"leads_{way}_per_s"] = round(half / elapsed)
        out[f"leads_{way}_cpu_app_ms_per_lead"] = round(
            1000 * (time.process_time() - cpu) / half, 2
        )
        out[f"leads_{way}_cpu_postgres_ms_per_lead"] = round(
            1000 * (_postgres_cpu(postmaster) - pg) / half, 2
        )
    return out


async def run(
    total: int, dsn: str, bootstrap: str, keys: Path, leads: int = 0, postmaster: int = 0
) -> dict[str, Any]:
    private_file, public_file = ensure_keypair(keys)
    token, _ = TokenSigner(private_file.read_bytes(), ttl_seconds=3600).issue(
        Principal(user_id="bench", session_id="bench", roles=frozenset({Role.NATIONAL_ADMIN}))
    )
    app = build_app(
        ServiceSettings(
            database_url=dsn, kafka_bootstrap=bootstrap, auth_public_key_file=public_file
        )
    )
    results: dict[str, Any] = {}
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            timeout=600,
            headers={"authorization": f"Bearer {token}", "content-type": "text/csv"},
        ) as client:

            async def timed_import(data: bytes) -> tuple[float, dict[str, Any]]:
                start = time.perf_counter()
                response = await client.post("/organisations/import", content=data)
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.text[:2000]
                return elapsed, response.json()

            data = organisations_csv(total)
            results["file_bytes"] = len(data)
            elapsed, body = await timed_import(data)
            assert len(body["registered"]) == total, body
            results["first_import_seconds"] = round(elapsed, 2)
            results["first_import_organisations_per_s"] = round(total / elapsed)

            elapsed, body = await timed_import(data)
            assert body["events"] == 0 and len(body["unchanged"]) == total, body
            results["reimport_unchanged_seconds"] = round(elapsed, 2)
            results["reimport_unchanged_rows_per_s"] = round(total / elapsed)

            elapsed, body = await timed_import(organisations_csv(total, renamed_every=10))
            results["reimport_10pct_renamed_seconds"] = round(elapsed, 2)
            results["reimport_10pct_renamed_rows_per_s"] = round(total / elapsed)
            results["reimport_10pct_renamed_events"] = body["events"]

            latencies = []
            for i in range(300):
                start = time.perf_counter()
                response = await client.get(
                    "/organisations", params={"region": REGIONS[i % 9], "limit": 100}
                )
                latencies.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
            latencies.sort()
            results["listing_p50_ms"] = round(statistics.median(latencies), 1)
            results["listing_p99_ms"] = round(latencies[int(len(latencies) * 0.99) - 1], 1)
            if leads:
                codes = sorted(line.split(",")[0] for line in data.decode().splitlines()[1:])
                assert len(codes) >= 2 * leads, "--organisations must be at least 2 x --leads"
                client.headers["content-type"] = "application/json"
                results.update(await nominate_leads(client, codes[: 2 * leads], postmaster))
    finally:
        await lifespan.__aexit__(None, None, None)
    conn = await asyncpg.connect(dsn)
    try:
        results["events_stored"] = await conn.fetchval("SELECT count(*) FROM events")
        results["organisations_listed"] = await conn.fetchval("SELECT count(*) FROM organisations")
    finally:
        await conn.close()
    return results


async def create_database(dsn_base: str, name: str) -> str:
    admin = await asyncpg.connect(dsn_base + "postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return dsn_base + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--organisations", type=int, default=5000)
    parser.add_argument("--leads", type=int, default=0, help="leads each way (see above)")
    args = parser.parse_args()
    with private_stack() as settings:
        dsn_base = f"postgresql://postgres@127.0.0.1:{settings.pg_port}/"

        async def go() -> dict[str, Any]:
            dsn = await create_database(dsn_base, "bench_registration")
            return await run(
                args.organisations,
                dsn,
                settings.bootstrap_servers,
                settings.var_dir / "keys",
                args.leads,
                postmaster_pid(settings),
            )

        results = asyncio.run(go())
    report(organisations=args.organisations, **results)


if __name__ == "__main__":
    main()
