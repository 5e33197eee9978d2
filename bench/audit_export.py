"""`csm-audit export` and `verify` on a national-sized history (issue #21).

Run: `.venv/bin/python bench/audit_export.py` (about 900,000 events; `--scale 0.1` for a
tenth). Generates the three service stores' histories once into an embedded PostgreSQL kept in
`--data-dir` (reused by later runs of the same scale; `--fresh` regenerates), then times the
two commands as an auditor runs them, each in its own process. Target (2-core machine): export
in under a minute.

The history: about 450 organisations, 30,000 services and 9,000 accounts in registration;
per service a questionnaire of about 20 events (issued, answers saved, submitted) and per
organisation a return signed off with its questionnaires' stream heads in questionnaire; two
events per email in notification. Rows are hash-chained by the kernel's own code
(`prepare_events`, `chain_hash_of_canonical`) and loaded by COPY.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from csm_infra.ports import free_port
from csm_infra.postgres import EmbeddedPostgres
from csm_kernel.database import migrate
from csm_kernel.hashing import GENESIS_HASH, chain_hash_of_canonical
from csm_kernel.signing import rotate
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.base import prepare_events
from harness import report

STORES = ("registration", "questionnaire", "notification")
CYCLE = "2009-10"
COLUMNS = (
    "event_id", "stream_id", "stream_version", "type", "version", "occurred_at", "key",
    "correlation_id", "causation_id", "actor", "data", "prev_hash", "hash",
)  # fmt: skip

Row = tuple[Any, ...]


class Clock:
    """Timestamps moving forward a few milliseconds an append, from the cycle's start."""

    def __init__(self) -> None:
        self.now = datetime(2009, 4, 1, 8, 0, tzinfo=UTC)

    def tick(self) -> datetime:
        self.now += timedelta(milliseconds=random.randint(1, 900))
        return self.now


class Chains:
    """Each stream's head, so appends chain as the store would."""

    def __init__(self) -> None:
        self.heads: dict[str, tuple[int, str]] = {}

    def append(
        self, stream_id: str, events: list[NewEvent], actor: str, at: datetime
    ) -> Iterator[Row]:
        version, head = self.heads.get(stream_id, (0, GENESIS_HASH))
        ctx = AppendContext(actor=actor)
        for p in prepare_events(stream_id, version, events, ctx, at):
            head = chain_hash_of_canonical(head, p.canonical)
            e = p.event
            yield (
                p.event_id, stream_id, p.stream_version, e.type, e.version, at, e.key,
                ctx.correlation_id, ctx.causation_id, actor, p.data_json, "", head,
            )  # fmt: skip
            version = p.stream_version
        self.heads[stream_id] = (version, head)


def _with_prev(rows: Iterator[Row]) -> Iterator[Row]:
    """Fill prev_hash from the previous row of the same stream (rows carry only `hash`)."""
    last: dict[str, str] = {}
    for r in rows:
        prev = last.get(r[1], GENESIS_HASH)
        last[r[1]] = r[12]
        yield (*r[:11], prev, r[12])


def organisations(scale: float) -> list[str]:
    return [f"{n:03X}" for n in range(max(3, int(450 * scale)))]


def registration(scale: float, clock: Clock) -> Iterator[Row]:
    chains = Chains()
    orgs = organisations(scale)
    for org in orgs:
        yield from chains.append(
            f"organisation-{org}",
            [
                NewEvent("registration.OrganisationRegistered", 1, {
                    "organisation_id": org, "code": org, "name": f"Anytown Trust {org}",
                    "kind": "pct", "region": "north-west", "partnership_areas": ["00BR", "00BQ"],
                }, org),
                NewEvent("registration.MappingLeadAppointed", 1, {
                    "organisation_id": org, "account_id": uuid.uuid4().hex,
                }, org),
            ],
            "account-national",
            clock.tick(),
        )  # fmt: skip
    for i in range(int(30_000 * scale)):
        org = orgs[i % len(orgs)]
        service = f"service-{uuid.uuid4()}"
        details = {
            "organisation_id": org, "name": f"Child and adolescent mental health {i}",
            "kind": "camhs", "tier": random.randint(1, 4), "places": random.randint(0, 40),
            "budget": round(random.uniform(1e4, 2e6), 2), "postcode": "M1 1AA",
        }  # fmt: skip
        for n, type_ in enumerate(
            ("ServiceAdded", "ServiceAmended", "ServiceAmended", "ServiceConfirmed")
        ):
            yield from chains.append(
                service,
                [NewEvent(f"registration.{type_}", 1, {**details, "n": n}, org)],
                "account-lead",
                clock.tick(),
            )
    for i in range(int(9_000 * scale)):
        org = orgs[i % len(orgs)]
        yield from chains.append(
            f"account-{uuid.uuid4().hex}",
            [
                NewEvent("registration.AccountCreated", 1, {
                    "organisation_id": org, "email": f"person{i}@example.org",
                    "name": f"Person {i}", "role": "mapping-lead",
                }, org),
                NewEvent("registration.AccountActivated", 1, {"organisation_id": org}, org),
            ],
            "account-national",
            clock.tick(),
        )  # fmt: skip


def questionnaire(scale: float, clock: Clock) -> Iterator[Row]:
    chains = Chains()
    orgs = organisations(scale)
    yield from chains.append(
        f"cycle-{CYCLE}",
        [NewEvent("questionnaire.CycleOpened", 1, {
            "organisation_id": "NATIONAL", "cycle": CYCLE, "opened_at": clock.now.isoformat(),
        }, "NATIONAL")],
        "account-national",
        clock.tick(),
    )  # fmt: skip
    per_org = max(1, int(30_000 * scale) // len(orgs))
    for org in orgs:
        streams = []
        for q in range(per_org):
            qid = str(uuid.uuid4())
            stream = f"questionnaire-{qid}"
            streams.append(stream)
            base = {"organisation_id": org, "cycle": CYCLE, "questionnaire_id": qid}
            yield from chains.append(
                stream,
                [NewEvent("questionnaire.QuestionnaireIssued", 1, {
                    **base, "definition": "service@3", "title": f"Service {q}",
                    "subject_kind": "service", "subject_id": str(uuid.uuid4()),
                }, org)],
                "system",
                clock.tick(),
            )  # fmt: skip
            for s in range(random.randint(16, 24)):
                yield from chains.append(
                    stream,
                    [NewEvent("questionnaire.AnswersSaved", 1, {
                        **base, "saved_by": "account-lead",
                        "changes": {f"q{s}": {"before": None, "after": random.choice(
                            ["Yes", "No", 17, 1e16, "Ysbyty — ☎ “quoted”", 0.25]
                        )}},
                    }, org)],
                    "account-lead",
                    clock.tick(),
                )  # fmt: skip
            yield from chains.append(
                stream,
                [NewEvent("questionnaire.ResponseSubmitted", 1, {
                    **base, "definition": "service@3", "submitted_by": "account-lead",
                    "answers": {f"q{s}": "Yes" for s in range(20)},
                }, org)],
                "account-lead",
                clock.tick(),
            )  # fmt: skip
        at = clock.tick()
        yield from chains.append(
            f"return-{CYCLE}-{org}",
            [NewEvent("questionnaire.CycleSignedOff", 1, {
                "organisation_id": org, "cycle": CYCLE, "signed_off_at": at.isoformat(),
                "signed_off_by": "account-lead", "questionnaires_submitted": per_org,
                "ni51": [], "stream_heads": {s: chains.heads[s][1] for s in streams},
                "supersedes": None,
            }, org)],
            "account-lead",
            at,
        )  # fmt: skip


def notification(scale: float, clock: Clock) -> Iterator[Row]:
    chains = Chains()
    orgs = organisations(scale)
    for i in range(int(55_000 * scale)):
        org = orgs[i % len(orgs)]
        nid = uuid.uuid4().hex
        yield from chains.append(
            f"notification-{nid}",
            [
                NewEvent("notification.NotificationRequested", 1, {
                    "organisation_id": org, "notification_id": nid, "kind": "reminder",
                    "to": f"lead{i}@example.org", "cycle": CYCLE,
                }, org),
                NewEvent("notification.NotificationSent", 1, {
                    "organisation_id": org, "notification_id": nid,
                }, org),
            ],
            "system",
            clock.tick(),
        )  # fmt: skip


async def load(dsn: str, rows: Iterator[Row]) -> int:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    await migrate(pool, "bench", None)
    total = 0
    async with pool.acquire() as conn:
        for batch in iter(lambda: list(itertools.islice(rows, 50_000)), []):
            await conn.copy_records_to_table("events", records=batch, columns=COLUMNS)
            total += len(batch)
        await conn.execute("VACUUM ANALYZE events")
    await pool.close()
    return total


async def generate(port: int, scale: float) -> dict[str, int]:
    random.seed(21)
    clock = Clock()
    makers = {"registration": registration, "questionnaire": questionnaire}
    makers["notification"] = notification
    counts = {}
    for store in STORES:
        dsn = f"postgresql://postgres@127.0.0.1:{port}/{store}"
        counts[store] = await load(dsn, _with_prev(makers[store](scale, clock)))
    return counts


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall time, the command's own CPU time (user + system, all its processes) and output.
    CPU time is the steadier figure when the machine is shared."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{command[1:3]} failed:\n{done.stdout}\n{done.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, done.stdout


def server_cpu(pg: EmbeddedPostgres) -> float:
    """CPU seconds PostgreSQL's finished backends have used (the postmaster reaps them)."""
    pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    times = psutil.Process(pid).cpu_times()
    return float(times.children_user + times.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/csm-bench-audit"))
    parser.add_argument("--fresh", action="store_true", help="regenerate the history")
    args = parser.parse_args()
    data: Path = args.data_dir
    marker = data / f"generated-{args.scale}.json"
    if args.fresh or not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(data / "postgres", free_port())
    pg.start()
    try:
        pg.create_databases(list(STORES))
        if marker.exists():
            generated = json.loads(marker.read_text())
        else:
            started = time.perf_counter()
            counts = asyncio.run(generate(pg.port, args.scale))
            generated = {"counts": counts, "seconds": round(time.perf_counter() - started, 1)}
            marker.write_text(json.dumps(generated))
        keys = data / "signing-keys"
        if not keys.exists():
            rotate(keys)
        bundle = data / "bundle"
        shutil.rmtree(bundle, ignore_errors=True)
        cli = [sys.executable, "-m", "csm_audit"]
        databases = [
            x
            for s in STORES
            for x in ("--database", f"{s}=postgresql://postgres@127.0.0.1:{pg.port}/{s}")
        ]
        load_before = os.getloadavg()
        pg_before = server_cpu(pg)
        export_s, export_cpu, exported = timed(
            [*cli, "export", str(bundle), "--quiet", "--signing-key-dir", str(keys), *databases]
        )
        export_server_cpu = server_cpu(pg) - pg_before
        verify_s, verify_cpu, out = timed([*cli, "verify", str(bundle), "--quiet"])
        events = sum(generated["counts"].values())
        size = sum(p.stat().st_size for p in (bundle / "events").iterdir())
        report(
            benchmark="audit_export",
            scale=args.scale,
            events=events,
            events_per_store=generated["counts"],
            generate_s=generated["seconds"],
            export_s=round(export_s, 1),
            export_events_per_s=round(events / export_s),
            export_client_cpu_s=round(export_cpu, 1),
            export_server_cpu_s=round(export_server_cpu, 1),
            verify_s=round(verify_s, 1),
            verify_events_per_s=round(events / verify_s),
            verify_cpu_s=round(verify_cpu, 1),
            bundle_mb=round(size / 1e6, 1),
            manifest_mb=round((bundle / "manifest.json").stat().st_size / 1e6, 1),
            export_output=exported.strip().splitlines()[-1],
            verify_result=out.strip().splitlines()[-1],
            load_average_before=[round(x, 1) for x in load_before],
            load_average_after=[round(x, 1) for x in os.getloadavg()],
        )
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
