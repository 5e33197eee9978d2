"""Registration: a national services file through the bulk path, as the portal sends it.

Run: `.venv/bin/python bench/registration_service_import.py` (defaults: 5,000 organisations,
20 services each = 100,000 services). Starts its own embedded PostgreSQL and broker on free
ports, runs the real registration app in-process and drives it through its HTTP API (httpx
ASGI transport, a signed national-admin token), as the portal's "Add services from a file"
page does:

1. registers the organisations straight through the event store (with four service groups
   each, as `registration_directory.py` does);
2. **preview**: `POST /directory/services/import?dry_run=true` with the whole file as CSV (every
   line checked: the record's rules, organisations, groups, duplicates in the file and against
   the directory; nothing written; the file kept for its confirmation);
3. **confirm**: `POST /directory/services/import?upload_id=...` (no body): every line checked
   again, then 100,000 records appended and the read model written in one transaction;
4. **confirm again** (a retried confirmation): every line found registered exactly as the
   file says, nothing written.

Each step's wall time and CPU time: this process's (the registration app runs in it) and
PostgreSQL's (the CPU time of its processes, which it keeps for the whole run) per line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import time
import uuid
from typing import Any

import asyncpg
import httpx
import psutil
from registration_directory import SETTINGS, SPECIALTIES, WORDS, organisation_code
from registration_directory import register_organisations as register

from csm_contracts.auth import Role
from csm_infra.settings import InfraSettings
from csm_kernel.auth import Principal, TokenSigner, ensure_keypair
from csm_kernel.settings import ServiceSettings
from harness import private_stack, report
from registration.bootstrap import build_app

COLUMNS = (
    "cycle,provider_id,name,description,service_type,age_min,age_max,needs,camhs,camhs_tier,"
    "group_id,commissioner_ids,contact_name,contact_email,contact_phone,service_id"
)


def services_csv(organisations: int, per_organisation: int) -> bytes:
    """`per_organisation` services of every organisation, each named once per provider."""
    rng = random.Random(42)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write(COLUMNS + "\r\n")
    for n in range(organisations * per_organisation):
        provider, k = divmod(n, per_organisation)
        specialty, need = SPECIALTIES[(provider + k) % len(SPECIALTIES)]
        age_min = rng.choice([0, 0, 2, 4, 5, 11, 13, 16])
        camhs = specialty.startswith("Child and adolescent") or rng.random() < 0.1
        commissioners = {
            organisation_code(rng.randrange(organisations)) for _ in range(rng.randint(0, 2))
        } - {organisation_code(provider)}
        writer.writerow(
            [
                "2009-10",
                organisation_code(provider),
                f"{specialty} ({k + 1})",
                f"{specialty} for children and young people: {rng.choice(WORDS)} and "
                f"{rng.choice(WORDS)} in {rng.choice(SETTINGS)}.",
                rng.choice(["universal", "targeted", "specialist"]),
                age_min,
                min(25, age_min + rng.choice([3, 5, 8, 11, 13, 18])),
                need,
                "yes" if camhs else "no",
                rng.randint(1, 4) if camhs else "",
                f"{organisation_code(provider)}-G{rng.randint(1, 4)}",
                ";".join(sorted(commissioners)),
                "Service Manager",
                f"manager{rng.randrange(10**6)}@example.nhs.uk",
                "0161 555 0101",
                "",
            ]
        )
    return out.getvalue().encode()


def postgres_cpu_seconds(settings: InfraSettings) -> float:
    """CPU time of the private PostgreSQL's processes (the postmaster and its children)."""
    data = str(settings.pg_dir)
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if proc.info.get("name") == "postgres" and data in cmdline:
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    continue
    return total


async def timed(
    settings: InfraSettings, lines: int, call: Any
) -> tuple[httpx.Response, dict[str, float]]:
    me = psutil.Process(os.getpid())
    cpu0, pg0, t0 = me.cpu_times(), postgres_cpu_seconds(settings), time.perf_counter()
    response = await call()
    wall = time.perf_counter() - t0
    cpu1, pg1 = me.cpu_times(), postgres_cpu_seconds(settings)
    app_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return response, {
        "seconds": round(wall, 1),
        "lines_per_s": round(lines / wall),
        "app_cpu_s": round(app_cpu, 1),
        "app_cpu_ms_per_line": round(app_cpu * 1000 / lines, 3),
        "postgres_cpu_ms_per_line": round((pg1 - pg0) * 1000 / lines, 3),
    }


async def run(args: argparse.Namespace, settings: InfraSettings) -> dict[str, Any]:
    admin_conn = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{settings.pg_port}/postgres"
    )
    name = f"bench_service_import_{uuid.uuid4().hex[:6]}"
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    await admin_conn.close()
    private_file, public_file = ensure_keypair(settings.keys_dir)
    signer = TokenSigner(private_file.read_bytes(), ttl_seconds=3600)
    principal = Principal("bench-admin", uuid.uuid4().hex, frozenset({Role.NATIONAL_ADMIN}), None)
    admin = {"authorization": f"Bearer {signer.issue(principal)[0]}"}
    app = build_app(
        ServiceSettings(
            database_url=f"postgresql://postgres@127.0.0.1:{settings.pg_port}/{name}",
            kafka_bootstrap=settings.bootstrap_servers,
            auth_public_key_file=public_file,
            db_pool_size=10,
        )
    )
    results: dict[str, Any] = {}
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://b", timeout=3600
        ) as client:
            await register(app, args.organisations)
            body = services_csv(args.organisations, args.per_organisation)
            lines = args.organisations * args.per_organisation
            results["file_mb"] = round(len(body) / 1e6, 1)
            headers = {**admin, "content-type": "text/csv; charset=utf-8"}
            url = "/directory/services/import"

            preview, results["preview"] = await timed(
                settings,
                lines,
                lambda: client.post(url, params={"dry_run": "true"}, content=body, headers=headers),
            )
            assert preview.status_code == 200, preview.text[:2000]
            upload_id = preview.json()["upload_id"]
            confirm, results["confirm"] = await timed(
                settings,
                lines,
                lambda: client.post(url, params={"upload_id": upload_id}, headers=headers),
            )
            assert confirm.status_code == 201, confirm.text[:2000]
            assert confirm.json()["imported"] == lines
            again, results["confirm_again"] = await timed(
                settings,
                lines,
                lambda: client.post(url, params={"upload_id": upload_id}, headers=headers),
            )
            assert again.status_code == 200 and again.json()["unchanged"] == lines, again.text[:500]
            pool = app.state.runtime.require_pool()
            results["services_in_read_model"] = await pool.fetchval(
                "SELECT count(*) FROM directory_services"
            )
    finally:
        await lifespan.__aexit__(None, None, None)
    results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--organisations", type=int, default=5_000)
    parser.add_argument("--per-organisation", type=int, default=20)
    args = parser.parse_args()
    load_before = [round(x, 1) for x in os.getloadavg()]
    with private_stack() as settings:
        results = asyncio.run(run(args, settings))
    report(
        organisations=args.organisations,
        services=args.organisations * args.per_organisation,
        load_average_before=load_before,
        cpus=os.cpu_count(),
        **results,
    )


if __name__ == "__main__":
    main()
