"""Replaying an audit bundle of a national-sized history offline (`csm-audit replay`, issue #21).

Run: `.venv/bin/python bench/audit_replay.py` (default `--scale 1`: reporting's synthetic
national history, 5,000 organisations and 100,000 service records over two cycles, about
880,000 events). `--scale 0.1` for a quick run. `--bundle DIR` keeps (or reuses) the bundle.

1. **Bundle** (not timed against the target): `bench/reporting_history.generate` builds the
   history (real contract payloads: organisations, cycles, services, questionnaires answered,
   delegated, submitted, signed off), each event goes to its service's store by its type's
   prefix, numbered in that store's position order, with its stream's real hash chain
   (`csm_kernel.hashing.chain_hash`), and `write_bundle` writes the bundle as `csm-audit export`
   does: gzip'd JSON lines per store, a canonical manifest signed with a fresh Ed25519 key.
2. **Replay** (the target: under 100 s on the 2-core machine), exactly what `csm-audit replay
   BUNDLE --out DIR --national-only` does: a fresh embedded PostgreSQL started in a temporary
   directory, reporting's migrations, the bundle checked (signature, sizes, SHA-256), every
   event read, validated as an envelope and as its contract payload (the consumer's checks),
   merged into arrival order and journalled in batches of 5,000 through the journal's own
   insert; every projection rebuilt by `Projector.rebuild_all`; every national report of every
   cycle rendered to JSON and CSV (area and organisation reports are thousands at this scale:
   `render_all` times them separately when asked, `--all-reports`).

Reported: each phase's seconds, events a second, and the total against the target.
"""

# ruff: noqa: E402
from __future__ import annotations

import sys
from pathlib import Path

# bench/reporting.py shadows the reporting package when bench/ is first on sys.path.
_BENCH = Path(__file__).resolve().parent
_ROOT = _BENCH.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH] + [str(_BENCH)]
sys.path.insert(0, str(_ROOT / "tools" / "audit" / "src"))

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from csm_audit.replay import embedded_database, replay
from csm_audit.replay_bundle import write_bundle
from csm_contracts.envelope import EventEnvelope
from csm_kernel.hashing import GENESIS_HASH, canonical_json, chain_hash_of_canonical
from harness import report
from reporting_history import Event, generate

TARGET_SECONDS = 100.0


def stores_of(events: list[Event], seed: int = 21) -> dict[str, list[EventEnvelope]]:
    """The history as the three stores hold it: positions per store, real hash chains."""
    rng = random.Random(seed)
    stores: dict[str, list[EventEnvelope]] = defaultdict(list)
    heads: dict[str, str] = {}
    for e in events:
        store = e.type.split(".")[0]
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        data = json.loads(e.data)
        prev = heads.get(e.stream_id, GENESIS_HASH)
        fields: dict[str, Any] = {
            "event_id": event_id,
            "type": e.type,
            "version": e.version,
            "occurred_at": e.at,
            "stream_id": e.stream_id,
            "stream_version": e.stream_version,
            "key": e.key,
            "correlation_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "causation_id": None,
            "actor": e.actor,
            "data": data,
        }
        content = {
            **fields,
            "event_id": str(event_id),
            "occurred_at": _iso(e.at),
        }
        digest = chain_hash_of_canonical(prev, canonical_json(content))
        heads[e.stream_id] = digest
        stores[store].append(
            EventEnvelope.trusted(
                **fields, prev_hash=prev, hash=digest, position=len(stores[store]) + 1
            )
        )
    return dict(stores)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _in_order(stores: dict[str, list[EventEnvelope]]) -> dict[str, Iterator[EventEnvelope]]:
    return {store: iter(events) for store, events in stores.items()}


def build_bundle(root: Path, scale: float) -> dict[str, Any]:
    started = time.monotonic()
    history = generate(scale)
    generated = time.monotonic() - started
    stores = stores_of(history.events)
    chained = time.monotonic() - started - generated
    manifest = write_bundle(root, _in_order(stores))
    written = time.monotonic() - started - generated - chained
    return {
        "events": len(history.events),
        "organisations": history.organisations,
        "services": history.services,
        "per_store": {s: m["count"] for s, m in manifest["stores"].items()},
        "bundle_mb": round(sum(m["bytes"] for m in manifest["stores"].values()) / 1e6, 1),
        "generate_s": round(generated, 1),
        "chain_s": round(chained, 1),
        "write_s": round(written, 1),
    }


def postgres_cpu(port: int) -> float:
    """CPU seconds used so far by the PostgreSQL server on `port` and its backends, live or
    ended (what a loaded machine's wall-clock time cannot say: how much work it did)."""
    stats = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        stats[int(proc.name)] = (cmdline, int(fields[1]), own, reaped)
    roots = {p for p, (cmd, *_) in stats.items() if "postgres" in cmd and f"-p {port}" in cmd}
    # The server's own time, its ended backends' (added to it when it reaps them), and the
    # live backends'.
    ticks = sum(own + reaped for p, (_, _, own, reaped) in stats.items() if p in roots)
    ticks += sum(own for p, (_, ppid, own, _) in stats.items() if ppid in roots)
    return ticks / os.sysconf("SC_CLK_TCK")


async def timed_replay(bundle: Path, out: Path, all_reports: bool) -> dict[str, Any]:
    started = time.monotonic()
    async with embedded_database() as url:
        up = time.monotonic() - started
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        pg_before, py_before = postgres_cpu(port), time.process_time()
        summary = await replay(bundle, out, database_url=url, national_only=not all_reports)
        pg_cpu, py_cpu = postgres_cpu(port) - pg_before, time.process_time() - py_before
    total = time.monotonic() - started
    t = summary["timings"]
    return {
        "postgres_start_s": round(up, 1),
        "journal_s": t["journal_s"],
        "journal_events_per_s": round(summary["events_journalled"] / t["journal_s"]),
        "journal_reading_s": t["journal_reading_s"],
        "journal_inserting_s": t["journal_inserting_s"],
        "rebuild_s": t["rebuild_s"],
        "rebuild_events_per_s": round(summary["events_journalled"] / t["rebuild_s"]),
        "render_s": t["render_s"],
        "reports_rendered": sum(1 for r in summary["reports"] if r["status"] == 200),
        "events_journalled": summary["events_journalled"],
        "refused": len(summary["refused"]),
        "python_cpu_s": round(py_cpu, 1),
        "postgres_cpu_s": round(pg_cpu, 1),
        "total_s": round(total, 1),
        "target_s": TARGET_SECONDS,
        "met": total < TARGET_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--bundle", type=Path, help="keep the bundle here (reused if there)")
    parser.add_argument("--all-reports", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csm-audit-bench-") as tmp:
        bundle = args.bundle or Path(tmp) / "bundle"
        built: dict[str, Any] = {}
        if not (bundle / "manifest.json").exists():
            built = build_bundle(bundle, args.scale)
            print(json.dumps({"bundle": built}), file=sys.stderr, flush=True)
        figures = asyncio.run(timed_replay(bundle, Path(tmp) / "out", args.all_reports))
    report(scale=args.scale, bundle=built, replay=figures)


if __name__ == "__main__":
    main()
