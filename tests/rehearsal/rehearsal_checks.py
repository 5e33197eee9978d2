"""What the rehearsal proves at the end, each as one row of a table: a name, whether it
holds, and the figures behind it."""

from __future__ import annotations

import asyncio
import email.parser
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from rehearsal_cluster import SERVICES, Cluster
from rehearsal_driver import Accepted, Api

from csm_contracts.topics import Topics
from progress_history import snapshot
from reporting.adapters.projections import PROJECTIONS

PUBLISHERS = ("registration", "questionnaire", "notification")


@dataclass
class Check:
    name: str
    holds: bool
    detail: str


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':{width}}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{c.name:{width}}  {'ok' if c.holds else 'FAILED':6}  {c.detail}" for c in checks]
    return "\n".join(lines)


async def pools(cluster: Cluster) -> dict[str, asyncpg.Pool]:
    return {
        s: await asyncpg.create_pool(cluster.settings.database_url(s), min_size=1, max_size=2)
        for s in SERVICES
    }


async def quiesce(cluster: Cluster, db: dict[str, asyncpg.Pool], timeout: float) -> Check:
    """Wait until every stored event is published and in reporting's journal, and every
    projection has caught up."""
    started = time.monotonic()
    problems = ["not checked"]
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() - started < timeout:
            problems = []
            journal = {
                r["event_id"] for r in await db["reporting"].fetch("SELECT event_id FROM journal")
            }
            for name in PUBLISHERS:
                stored = {
                    r["event_id"] for r in await db[name].fetch("SELECT event_id FROM events")
                }
                if missing := stored - journal:
                    problems.append(f"{len(missing)} {name} events not in the journal")
                head = await db[name].fetchval("SELECT coalesce(max(position), 0) FROM events")
                published = await db[name].fetchval(
                    "SELECT coalesce(max(position), 0) FROM relay_checkpoints"
                )
                if published < head:
                    problems.append(f"{name}: {head - published} unpublished")
            try:
                status = (await client.get(f"{cluster.url('reporting')}/status")).json()
                behind = sum(p["events_behind"] for p in status["projections"])
                if behind:
                    problems.append(f"projections {behind} events behind")
            except (httpx.HTTPError, ValueError, KeyError):
                problems.append("reporting /status unreadable")
            if not problems:
                break
            await asyncio.sleep(1)
    took = time.monotonic() - started
    return Check(
        "everything published and projected",
        not problems,
        f"{took:.1f} s after the load" + (f": {'; '.join(problems)}" if problems else ""),
    )


async def projections_equal_rebuild(
    cluster: Cluster, db: dict[str, asyncpg.Pool], admin: dict[str, str]
) -> Check:
    pool = db["reporting"]
    live = {p.name: await snapshot(pool, p.schema, p.tables) for p in PROJECTIONS}
    rows = sum(len(t) for tables in live.values() for t in tables.values())
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(f"{cluster.url('reporting')}/projections/all/rebuild", headers=admin)
        if r.status_code != 202:
            return Check("projections equal a rebuild", False, f"rebuild refused: {r.status_code}")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            try:
                status = (await client.get(f"{cluster.url('reporting')}/status")).json()
            except (httpx.HTTPError, ValueError):
                continue
            if not any(p["rebuilding"] for p in status["projections"]):
                break
    rebuilt = {p.name: await snapshot(pool, p.schema, p.tables) for p in PROJECTIONS}
    differing = []
    for name, tables in live.items():
        for table, rows_live in tables.items():
            if rows_live != rebuilt[name][table]:
                only_live = [r for r in rows_live if r not in rebuilt[name][table]][:2]
                only_rebuilt = [r for r in rebuilt[name][table] if r not in rows_live][:2]
                differing.append(f"{name}.{table} live {only_live} rebuilt {only_rebuilt}")
    return Check(
        "projections equal a rebuild, row for row",
        not differing and rows > 0,
        f"{len(PROJECTIONS)} projections, {rows} rows" + (f"; {differing}" if differing else ""),
    )


def _mail(mail_dir: Path) -> list[dict[str, Any]]:
    parser = email.parser.BytesHeaderParser()
    out = []
    for path in sorted(mail_dir.glob("*.eml")):
        with path.open("rb") as f:
            headers = parser.parse(f)
        out.append(
            {
                "id": headers["X-CSM-Notification"],
                "to": headers["To"],
                "subject": headers["Subject"] or "",
                "at": int(path.name.split("-", 1)[0]) / 1e9,
            }
        )
    return out


async def emails_exactly_once(
    cluster: Cluster,
    db: dict[str, asyncpg.Pool],
    accepted: Accepted,
    windows: list[tuple[float, float]],
) -> list[Check]:
    recorded = {
        r["id"] for r in await db["notification"].fetch("SELECT id::text AS id FROM notifications")
    }
    mail = _mail(cluster.settings.mail_dir)
    copies = Counter(m["id"] for m in mail)
    at = {m["id"]: m["at"] for m in mail}
    unsent = recorded - set(copies)
    doubled = {n for n, c in copies.items() if c > 1}
    unexplained = {n for n in doubled if not any(lo <= at[n] <= hi for lo, hi in windows)}

    # Copies per (recipient, kind of email), counted once: a scan per person is quadratic.
    kinds = ("Set up your", "Please complete", "Signed off", "Thank you")
    sent = Counter((m["to"], part) for m in mail for part in kinds if part in m["subject"])

    def to(email: str, part: str) -> int:
        return sent[(email, part)]

    setups = Counter(to(e, "Set up your") for e in accepted.leads.values())
    invitations = Counter(to(e, "Please complete") for e in set(accepted.delegations.values()))
    confirmations = Counter(
        to(accepted.leads[o], "Signed off") for o in accepted.signed_off if o in accepted.leads
    )
    bulletins = (
        Counter(to(e, "Thank you") for e in accepted.leads.values())
        if accepted.bulletins
        else Counter()
    )
    reminders = Counter(
        m["to"]
        for m in mail
        if "reminder" in m["subject"].lower() or "closes" in m["subject"].lower()
    )
    return [
        Check(
            "every recorded email delivered, none twice",
            not unsent and not unexplained,
            f"{len(recorded)} recorded, {len(unsent)} undelivered, {len(doubled)} twice"
            f" ({len(doubled) - len(unexplained)} within a kill's documented window)",
        ),
        # Counters of copies per person: {1: n} is each once; a key 0 is someone missed.
        Check(
            "a set-up email per accepted lead",
            set(setups) <= {1},
            f"copies per lead: {dict(setups)}",
        ),
        Check(
            "an invitation per delegation", set(invitations) <= {1}, f"copies: {dict(invitations)}"
        ),
        Check(
            "a confirmation per sign-off",
            set(confirmations) <= {1},
            f"copies: {dict(confirmations)}",
        ),
        Check(
            "the bulletin once to each lead",
            bool(accepted.bulletins) and set(bulletins) <= {1},
            f"copies: {dict(bulletins)}" if accepted.bulletins else "no bulletin was accepted",
        ),
        Check(
            "no reminder sent twice (three schedulers)",
            all(c <= 1 for c in reminders.values()),
            f"{sum(reminders.values())} reminders to {len(reminders)} leads",
        ),
    ]


async def sign_offs_on_the_public_topic(cluster: Cluster, accepted: Accepted) -> Check:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=cluster.settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    seen: dict[str, list[tuple[str, int, int]]] = {}
    try:
        partitions = consumer.partitions_for_topic(Topics.PUBLIC_SIGNOFFS) or set()
        tps = [TopicPartition(Topics.PUBLIC_SIGNOFFS, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if headers.get("ce_type", "").endswith("CycleSignedOff"):
                        org = (record.key or b"").decode() or json.loads(record.value).get(
                            "organisation_id", "?"
                        )
                        seen.setdefault(org, []).append(
                            (headers["ce_id"], tp.partition, record.offset)
                        )
    finally:
        await consumer.stop()
    missing = [o for o in accepted.signed_off if o not in seen]
    # Duplicates (at-least-once) only as the same event again: one ce_id per organisation.
    doubled_ids = {o: ids for o, ids in seen.items() if len({i for i, _, _ in ids}) > 1}
    one_partition = all(len({p for _, p, _ in ids}) == 1 for ids in seen.values())
    copies = sum(len(ids) for ids in seen.values()) - len(seen)
    return Check(
        "every sign-off on the public topic",
        not missing and not doubled_ids and one_partition,
        f"{len(seen)} sign-offs, {copies} redelivered copies (same ce_id), {len(missing)} missing"
        + (f", different ids for {list(doubled_ids)[:3]}" if doubled_ids else ""),
    )


def streams_verify(cluster: Cluster) -> Check:
    results = {}
    for service in PUBLISHERS:
        env = cluster.replicas[service][0].env
        exe = Path(sys.executable).parent / f"csm-{service}"
        done = subprocess.run(
            [str(exe), "verify"], env=env, capture_output=True, text=True, timeout=600
        )
        results[service] = (done.returncode, (done.stdout + done.stderr).strip().splitlines()[-1:])
    return Check(
        "every stream's hash chain verifies",
        all(code == 0 for code, _ in results.values()),
        "; ".join(f"{s}: {'ok' if c == 0 else out}" for s, (c, out) in results.items()),
    )


async def no_dead_letters(db: dict[str, asyncpg.Pool]) -> Check:
    dead = {}
    for service, pool in db.items():
        rows = await pool.fetch("SELECT consumer, reason, error FROM dead_letters")
        if rows:
            dead[service] = [dict(r) for r in rows[:3]]
    return Check("no dead letters", not dead, str(dead) if dead else "none in any consumer")


async def accepted_is_stored(db: dict[str, asyncpg.Pool], accepted: Accepted) -> Check:
    reg, qst = db["registration"], db["questionnaire"]
    problems = []
    orgs = {
        r["code"]
        for r in await reg.fetch(
            "SELECT data->>'organisation_id' AS code FROM events"
            " WHERE type = 'registration.OrganisationRegistered'"
        )
    }
    if missing := set(accepted.organisations) - orgs:
        problems.append(f"{len(missing)} organisations")
    services = {
        r["id"]
        for r in await reg.fetch(
            "SELECT data->>'service_id' AS id FROM events"
            " WHERE type = 'registration.ServiceRegistered'"
        )
    }
    if missing := set(accepted.services) - services:
        problems.append(f"{len(missing)} services")
    versions = {
        (r["stream_id"], r["stream_version"])
        for r in await qst.fetch(
            "SELECT stream_id, stream_version FROM events WHERE type = 'questionnaire.AnswersSaved'"
        )
    }
    # A questionnaire's stream is `questionnaire-<id>` (a set lookup: 100,000 saves at scale).
    lost_saves = [s for s in accepted.saves if (f"questionnaire-{s[0]}", s[1]) not in versions]
    if lost_saves:
        problems.append(f"{len(lost_saves)} saves")
    submitted = {
        r["qid"]
        for r in await qst.fetch(
            "SELECT data->>'questionnaire_id' AS qid FROM events"
            " WHERE type = 'questionnaire.ResponseSubmitted'"
        )
    }
    if missing := set(accepted.submitted) - submitted:
        problems.append(f"{len(missing)} submissions")
    signed = {
        r["org"]
        for r in await qst.fetch(
            "SELECT key AS org FROM events WHERE type = 'questionnaire.CycleSignedOff'"
        )
    }
    if missing := set(accepted.signed_off) - signed:
        problems.append(f"{len(missing)} sign-offs")
    return Check(
        "nothing answered 2xx is missing from the stores",
        not problems,
        f"{len(accepted.organisations)} organisations, {len(accepted.services)} services, "
        f"{len(accepted.saves)} saves, {len(accepted.submitted)} submissions, "
        f"{len(accepted.signed_off)} sign-offs"
        + (f"; missing: {', '.join(problems)}" if problems else ""),
    )


__all__ = ["Api", "Check", "table"]
