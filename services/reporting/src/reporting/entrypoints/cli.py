"""`csm-reporting-rebuild`: rebuild projections from the full history, beside the live ones.

    csm-reporting-rebuild                       # every projection, from the journal
    csm-reporting-rebuild -p progress -p responses
    csm-reporting-rebuild --from broker         # refill the journal from every topic's offset 0
    csm-reporting-rebuild --from stores --store-url postgresql://.../registration ...
                                                # ... or from the services' event stores when
                                                # the broker is empty (Tansu keeps topics in memory)

The live service keeps serving the old tables until each new one is swapped in. Progress,
events/s and ETA are printed as it goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from importlib import resources

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from csm_contracts.cloudevents import UndecodableMessage, decode
from csm_contracts.envelope import EventEnvelope
from csm_kernel.database import connect_pool, migrate
from csm_kernel.settings import ServiceSettings

from ..adapters import journal
from ..adapters.projections import PROJECTIONS
from ..adapters.projector import REBUILD_PARALLEL, Progress, Projector
from .consumers import SOURCES

CHUNK = 5_000


def _bar(label: str, done: int, total: int, rate: float, eta: float | None) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    eta_text = f"{eta:6.1f}s" if eta is not None else "   -  "
    sys.stderr.write(
        f"\r{label:<16} [{'#' * filled}{'.' * (width - filled)}] {done:>10,}/{total:<10,}"
        f" {rate:>9,.0f} ev/s  ETA {eta_text}"
    )
    sys.stderr.flush()


def _show(progress: Progress) -> None:
    _bar(progress.projection, progress.position, progress.head, progress.rate, progress.eta)


async def refill_from_broker(pool: asyncpg.Pool, bootstrap: str) -> int:
    """Read every source topic from offset 0 to its current end into the journal."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    added = 0
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in SOURCES
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        seen, started = 0, time.monotonic()
        pending: list[EventEnvelope] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000, max_records=CHUNK)
            for records in batches.values():
                for record in records:
                    seen += 1
                    try:
                        pending.append(decode(record.headers, record.value))
                    except UndecodableMessage as exc:
                        sys.stderr.write(f"\nskipped an undecodable message: {exc}\n")
            added += await _flush(pool, pending)
            pending = []
            rate = seen / max(time.monotonic() - started, 1e-6)
            _bar("broker", seen, total, rate, (total - seen) / rate if rate else None)
        sys.stderr.write("\n")
    finally:
        await consumer.stop()
    return added


async def refill_from_stores(pool: asyncpg.Pool, urls: Sequence[str]) -> int:
    """Read every event of each service's event store, in position order, into the journal."""
    added = 0
    for url in urls:
        source = await asyncpg.connect(url)
        try:
            total = int(await source.fetchval("SELECT count(*) FROM events"))
            position, seen, started = 0, 0, time.monotonic()
            while True:
                rows = await source.fetch(
                    "SELECT * FROM events WHERE position > $1 ORDER BY position LIMIT $2",
                    position,
                    CHUNK,
                )
                if not rows:
                    break
                envelopes = [
                    EventEnvelope.model_validate(
                        {**dict(r), "data": asyncpg_json(r["data"]), "position": r["position"]}
                    )
                    for r in rows
                ]
                added += await _flush(pool, envelopes)
                position, seen = rows[-1]["position"], seen + len(rows)
                rate = seen / max(time.monotonic() - started, 1e-6)
                _bar(url.rsplit("/", 1)[-1], seen, total, rate, (total - seen) / rate)
            sys.stderr.write("\n")
        finally:
            await source.close()
    return added


def asyncpg_json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


async def _flush(pool: asyncpg.Pool, envelopes: Sequence[EventEnvelope]) -> int:
    if not envelopes:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        return await journal.record(conn, envelopes)


async def run(args: argparse.Namespace) -> None:
    settings = ServiceSettings()
    url = args.database_url or settings.database_url
    pool = await connect_pool(url, size=4)
    try:
        await migrate(pool, "reporting", resources.files("reporting.adapters").joinpath("sql"))
        if args.source == "broker":
            added = await refill_from_broker(pool, args.bootstrap or settings.kafka_bootstrap)
            print(f"journal: {added:,} new events from the broker")
        elif args.source == "stores":
            if not args.store_url:
                raise SystemExit("--from stores needs at least one --store-url")
            added = await refill_from_stores(pool, args.store_url)
            print(f"journal: {added:,} new events from the stores")
        wanted = [p for p in PROJECTIONS if not args.projection or p.name in args.projection]
        unknown = set(args.projection or ()) - {p.name for p in PROJECTIONS}
        if unknown:
            raise SystemExit(f"unknown projection(s): {', '.join(sorted(unknown))}")
        projector = Projector(pool, PROJECTIONS)
        await projector.prepare()
        started = time.monotonic()
        shown: dict[str, Progress] = {}

        def show(progress: Progress) -> None:
            shown[progress.projection] = progress
            done = sum(p.position for p in shown.values())
            total = sum(p.head for p in shown.values()) * len(wanted) // max(len(shown), 1)
            rate = done / max(time.monotonic() - started, 1e-6)
            _bar("all" if len(wanted) > 1 else progress.projection, done, total, rate,
                 (total - done) / rate if rate else None)  # fmt: skip

        results = await projector.rebuild_all(wanted, show, parallel=args.parallel)
        sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        for done in results:
            print(f"{done.projection}: {done.head:,} events in {done.elapsed:.1f}s"
                  f" ({done.rate:,.0f}/s)")  # fmt: skip
        head = max((d.head for d in results), default=0)
        print(f"all {len(results)} projections: {head:,} journal events in {elapsed:.1f}s"
              f" ({head / max(elapsed, 1e-6):,.0f} events/s)")  # fmt: skip
    finally:
        await pool.close()


def build_parser() -> argparse.ArgumentParser:
    """The command line of `csm-reporting-rebuild`."""
    parser = argparse.ArgumentParser(
        prog="csm-reporting-rebuild",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-p", "--projection", action="append", help="only this projection")
    parser.add_argument("--from", dest="source", choices=["journal", "broker", "stores"],
                        default="journal", help="where the history comes from")  # fmt: skip
    parser.add_argument("--store-url", action="append", help="a service's event-store database")
    parser.add_argument("--database-url", help="reporting's database (default: CSM_DATABASE_URL)")
    parser.add_argument("--bootstrap", help="Kafka bootstrap (default: CSM_KAFKA_BOOTSTRAP)")
    parser.add_argument(
        "--parallel",
        type=int,
        default=REBUILD_PARALLEL,
        help=f"projections rebuilt at once (default {REBUILD_PARALLEL})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(build_parser().parse_args(argv)))
