"""Registration's directory of services: bulk import throughput and search latency.

Run: `.venv/bin/python bench/registration_directory.py` (defaults: 5,000 organisations,
100,000 services, 600 searches). Starts its own embedded PostgreSQL and broker on free ports in
a temporary directory, runs the real registration app in-process (its relay publishing to the
broker as it would in production) and drives it through its HTTP API (httpx ASGI transport,
signed national-admin and mapping-lead tokens):

1. registers the organisations straight through the event store (`OrganisationRegistered`,
   each in one to three of 150 LA partnership areas);
2. imports the services through `POST /directory/services/import` (JSON lines), in requests of
   `--chunk` lines, `--concurrency` requests at a time; reports services/s over the whole load;
3. waits for the relay to publish everything, `VACUUM (ANALYZE)`s the read model (what
   autovacuum does on its own within a minute or so of a bulk load: statistics for the planner,
   hint bits and the visibility map), then times `--queries` searches
   (`GET /directory/services`) over a fixed mix of area, locality, type, tier, age and text
   queries, some as a national admin and some as a mapping lead (scoped to their organisation);
4. carries the cycle forward (`POST /directory/cycles/2010-11/carry-forward`), then again
   (idempotent: nothing carried), timing both.

Targets (issue #3, 2-core machine): >= 2,000 services/s through the bulk path; search p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg
import httpx

from csm_contracts.auth import Role
from csm_contracts.events import OrganisationRegistered
from csm_infra.settings import InfraSettings
from csm_kernel.auth import Principal, TokenSigner, ensure_keypair
from csm_kernel.settings import ServiceSettings
from csm_kernel.store import AppendContext, NewEvent
from harness import private_stack, report
from registration.bootstrap import build_app

AREAS = [f"L{n:03d}" for n in range(1, 151)]
SPECIALTIES = [
    ("Speech and language therapy", "speech and language"),
    ("Health visiting", "early years"),
    ("School nursing", "school health"),
    ("Community paediatrics", "disability"),
    ("Child and adolescent mental health", "mental health"),
    ("Youth offending team", "youth justice"),
    ("Family support", "family support"),
    ("Portage", "learning disabilities"),
    ("Physiotherapy", "physical disability"),
    ("Occupational therapy", "physical disability"),
    ("Sexual health clinic", "sexual health"),
    ("Substance misuse service", "substance misuse"),
    ("Looked after children nursing", "looked-after children"),
    ("Short breaks", "disability"),
    ("Parenting programme", "parenting"),
    ("Autism assessment", "autism"),
    ("Eating disorders service", "eating disorders"),
    ("Bereavement counselling", "bereavement"),
    ("Young carers project", "young carers"),
    ("Midwifery", "maternity"),
    ("Breastfeeding support", "maternity"),
    ("Children's centre outreach", "early years"),
    ("Dietetics", "nutrition"),
    ("Audiology", "hearing impairment"),
    ("Visual impairment team", "visual impairment"),
    ("Continence service", "continence"),
    ("Epilepsy nursing", "epilepsy"),
    ("Diabetes nursing", "diabetes"),
    ("Asthma clinic", "asthma"),
    ("Immunisation team", "immunisation"),
]
SETTINGS = ["community clinics", "schools", "the family home", "children's centres", "GP surgeries"]
WORDS = ["assessment", "therapy", "advice", "support", "groups", "drop-in", "outreach", "referral"]


def organisation_code(n: int) -> str:
    return f"B{n:04d}"


def make_service(rng: random.Random, organisations: int) -> dict[str, Any]:
    specialty, need = rng.choice(SPECIALTIES)
    provider = rng.randrange(organisations)
    age_min = rng.choice([0, 0, 2, 4, 5, 11, 13, 16])
    age_max = min(25, age_min + rng.choice([3, 5, 8, 11, 13, 18]))
    camhs = specialty.startswith("Child and adolescent") or rng.random() < 0.1
    service: dict[str, Any] = {
        "cycle": "2009-10",
        "name": f"{specialty} ({rng.choice(['north', 'south', 'east', 'west', 'central'])})",
        "description": (
            f"{specialty} for children and young people: {rng.choice(WORDS)}, "
            f"{rng.choice(WORDS)} and {rng.choice(WORDS)} in {rng.choice(SETTINGS)}."
        ),
        "service_type": rng.choice(["universal", "targeted", "specialist"]),
        "client_group": {"age_min": age_min, "age_max": age_max, "needs": [need]},
        "camhs": camhs,
        "camhs_tier": rng.randint(1, 4) if camhs else None,
        "group_id": f"{organisation_code(provider)}-G{rng.randint(1, 4)}",
        "provider_id": organisation_code(provider),
        "commissioner_ids": sorted(
            {organisation_code(rng.randrange(organisations)) for _ in range(rng.randint(0, 2))}
            - {organisation_code(provider)}
        ),
        "contact": {
            "name": "Service Manager",
            "email": f"manager{rng.randrange(10**6)}@example.nhs.uk",
            "phone": "0161 555 0101",
        },
    }
    return service


def unique_names(services: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The services, a number added to a name its provider's group already has: the import
    refuses a second service of the same name, provider, group and cycle."""
    seen: set[tuple[str, str, str]] = set()
    for service in services:
        base, n = service["name"], 1
        while (service["provider_id"], service["group_id"], service["name"]) in seen:
            n += 1
            service["name"] = f"{base} {n}"
        seen.add((service["provider_id"], service["group_id"], service["name"]))
        yield service


def search_mix(rng: random.Random, organisations: int, count: int) -> list[tuple[str, dict]]:
    """(who, query parameters) of `count` realistic searches, in a fixed random order."""
    texts = [
        "speech",
        "autism",
        "mental health",
        "school nursing",
        "breastfeeding",
        "drop-in",
        "young carers",
        "eating disorders",
        "physiotherapy",
        "bereavement counselling",
    ]

    def one() -> tuple[str, dict]:
        kind = rng.randrange(10)
        area = rng.choice(AREAS)
        org = organisation_code(rng.randrange(organisations))
        if kind == 0:
            return "admin", {"area": area}
        if kind == 1:
            return "admin", {"area": area, "type": rng.choice(["universal", "targeted"])}
        if kind == 2:
            return "admin", {"locality": f"{org}-G{rng.randint(1, 4)}"}
        if kind == 3:
            return "admin", {"type": "specialist", "tier": rng.randint(1, 4)}
        if kind == 4:
            return "admin", {"age": rng.randint(0, 18), "area": area}
        if kind == 5:
            return "admin", {"q": rng.choice(texts)}
        if kind == 6:
            return "admin", {"q": rng.choice(texts), "area": area}
        if kind == 7:
            return "admin", {"age": rng.randint(0, 18), "type": "targeted", "offset": 40}
        if kind == 8:
            return f"lead:{org}", {"q": rng.choice(texts)}
        return f"lead:{org}", {"age": rng.randint(0, 18)}

    return [one() for _ in range(count)]


async def register_organisations(app: Any, count: int) -> float:
    store = app.state.runtime.require_store()
    ctx = AppendContext(actor="bench")
    rng = random.Random(7)

    async def one(n: int) -> None:
        code = organisation_code(n)
        event = OrganisationRegistered(
            organisation_id=code,
            code=code,
            name=f"Organisation {code}",
            kind=rng.choice(["pct", "local-authority", "nhs-trust-community", "third-sector"]),
            region="north-west",
            partnership_areas=sorted(set(rng.sample(AREAS, rng.randint(1, 3)))),
        )
        await store.append(f"organisation-{code}", 0, [NewEvent.from_payload(event)], ctx)

    start = time.perf_counter()
    for first in range(0, count, 500):
        await asyncio.gather(*(one(n) for n in range(first, min(count, first + 500))))
    rate = count / (time.perf_counter() - start)
    # Four localities per organisation, as its lead would define them (services name them).
    groups = [
        (f"{organisation_code(n)}-G{g}", organisation_code(n))
        for n in range(count)
        for g in range(1, 5)
    ]
    await app.state.runtime.require_pool().executemany(
        "INSERT INTO service_groups (group_id, organisation_id, name, kind) "
        "VALUES ($1, $2, $1, 'locality')",
        groups,
    )
    return rate


async def import_services(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    lines: list[bytes],
    chunk: int,
    concurrency: int,
) -> tuple[float, list[float]]:
    bodies = [b"\n".join(lines[i : i + chunk]) for i in range(0, len(lines), chunk)]
    queue = list(enumerate(bodies))
    durations: list[float] = []

    async def worker() -> None:
        while queue:
            _, body = queue.pop(0)
            started = time.perf_counter()
            response = await client.post(
                "/directory/services/import",
                content=body,
                headers={**admin, "content-type": "application/x-ndjson"},
            )
            assert response.status_code == 201, response.text[:2000]
            durations.append(time.perf_counter() - started)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(lines) / (time.perf_counter() - start), durations


async def wait_for_relay(app: Any, limit: float = 600) -> float:
    runtime = app.state.runtime
    pool = runtime.require_pool()
    target = await runtime.require_store().max_position()
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        done = await pool.fetchval("SELECT coalesce(max(position), 0) FROM relay_checkpoints")
        if done >= target:
            break
        await asyncio.sleep(0.5)
    return time.perf_counter() - start


async def searches(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], mix: list[tuple[str, dict]]
) -> tuple[list[float], list[int]]:
    latencies, totals = [], []
    for who, params in mix:
        headers = tokens.get(who) or tokens["lead"](who.split(":", 1)[1])  # type: ignore[operator]
        started = time.perf_counter()
        response = await client.get("/directory/services", params=params, headers=headers)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        totals.append(response.json()["total"])
    return latencies, totals


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, settings: InfraSettings) -> dict[str, Any]:
    admin_conn = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{settings.pg_port}/postgres"
    )
    name = f"bench_directory_{uuid.uuid4().hex[:6]}"
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    await admin_conn.close()
    private_file, public_file = ensure_keypair(settings.keys_dir)
    signer = TokenSigner(private_file.read_bytes(), ttl_seconds=3600)

    def token(role: Role, org: str | None = None) -> dict[str, str]:
        principal = Principal(uuid.uuid4().hex, uuid.uuid4().hex, frozenset({role}), org)
        return {"authorization": f"Bearer {signer.issue(principal)[0]}"}

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
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://b", timeout=600
        ) as client:
            admin = token(Role.NATIONAL_ADMIN)
            results["organisations_per_s"] = round(
                await register_organisations(app, args.organisations)
            )
            rng = random.Random(42)
            lines = [
                json.dumps(service).encode()
                for service in unique_names(
                    make_service(rng, args.organisations) for _ in range(args.services)
                )
            ]
            rate, durations = await import_services(
                client, admin, lines, args.chunk, args.concurrency
            )
            results["import_services_per_s"] = round(rate)
            results["import_request_seconds_median"] = round(statistics.median(durations), 2)
            results["relay_catch_up_seconds"] = round(await wait_for_relay(app), 1)
            pool = app.state.runtime.require_pool()
            await pool.execute("VACUUM (ANALYZE) directory_services")
            results["services_in_read_model"] = await pool.fetchval(
                "SELECT count(*) FROM directory_services"
            )
            lead_tokens: dict[str, dict[str, str]] = {}

            def lead(org: str) -> dict[str, str]:
                if org not in lead_tokens:
                    lead_tokens[org] = token(Role.MAPPING_LEAD, org)
                return lead_tokens[org]

            mix = search_mix(random.Random(3), args.organisations, args.queries)
            tokens: dict[str, Any] = {"admin": admin, "lead": lead}
            await searches(client, tokens, mix[:50])  # warm up (not counted)
            latencies, totals = await searches(client, tokens, mix)
            results["search_queries"] = len(latencies)
            results["search_p50_ms"] = round(percentile(latencies, 50), 1)
            results["search_p95_ms"] = round(percentile(latencies, 95), 1)
            results["search_p99_ms"] = round(percentile(latencies, 99), 1)
            results["search_max_ms"] = round(max(latencies), 1)
            results["search_median_total"] = statistics.median(totals)
            started = time.perf_counter()
            carried = await client.post(
                "/directory/cycles/2010-11/carry-forward", params={"from": "2009-10"}, headers=admin
            )
            assert carried.status_code == 200, carried.text
            results["carry_forward_seconds"] = round(time.perf_counter() - started, 1)
            results["carried"] = carried.json()["carried"]
            started = time.perf_counter()
            again = await client.post(
                "/directory/cycles/2010-11/carry-forward", params={"from": "2009-10"}, headers=admin
            )
            assert again.json()["carried"] == 0, again.text
            results["carry_forward_again_seconds"] = round(time.perf_counter() - started, 1)
    finally:
        await lifespan.__aexit__(None, None, None)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--organisations", type=int, default=5_000)
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="lines per import request")
    parser.add_argument("--concurrency", type=int, default=2, help="import requests at a time")
    parser.add_argument("--queries", type=int, default=600)
    args = parser.parse_args()
    with private_stack() as settings:
        results = asyncio.run(run(args, settings))
    report(
        organisations=args.organisations,
        services=args.services,
        chunk=args.chunk,
        concurrency=args.concurrency,
        **results,
    )


if __name__ == "__main__":
    main()
