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
import sys
import time
from collections.abc import Callable, Sequence

from csm_kernel.settings import ServiceSettings

from ..application.ports import HistoryBatch
from ..application.projection import Progress
from ..application.rebuilding import Rebuilding, UnknownProjections
from ..bootstrap import REBUILD_PARALLEL, rebuilding


def _bar(label: str, done: int, total: int, rate: float, eta: float | None) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    eta_text = f"{eta:6.1f}s" if eta is not None else "   -  "
    sys.stderr.write(
        f"\r{label:<16} [{'#' * filled}{'.' * (width - filled)}] {done:>10,}/{total:<10,}"
        f" {rate:>9,.0f} ev/s  ETA {eta_text}"
    )
    sys.stderr.flush()


def _refill_bar(label: str) -> Callable[[HistoryBatch], None]:
    """Shows a refill's progress under `label`, noting each message it had to skip."""
    started = time.monotonic()

    def show(batch: HistoryBatch) -> None:
        for reason in batch.skipped:
            sys.stderr.write(f"\nskipped an undecodable message: {reason}\n")
        rate = batch.seen / max(time.monotonic() - started, 1e-6)
        eta = (batch.total - batch.seen) / rate if rate else None
        _bar(label, batch.seen, batch.total, rate, eta)

    return show


async def _refill(app: Rebuilding, args: argparse.Namespace, settings: ServiceSettings) -> None:
    if args.source == "broker":
        show = _refill_bar("broker")
        added = await app.refill_from_broker(args.bootstrap or settings.kafka_bootstrap, show)
        sys.stderr.write("\n")
        print(f"journal: {added:,} new events from the broker")
    elif args.source == "stores":
        if not args.store_url:
            raise SystemExit("--from stores needs at least one --store-url")
        added = 0
        for url in args.store_url:
            added += await app.refill_from_store(url, _refill_bar(url.rsplit("/", 1)[-1]))
            sys.stderr.write("\n")
        print(f"journal: {added:,} new events from the stores")


async def run(args: argparse.Namespace) -> None:
    settings = ServiceSettings()
    async with rebuilding(args.database_url or settings.database_url) as app:
        await _refill(app, args, settings)
        try:
            wanted = app.wanted(args.projection)
        except UnknownProjections as exc:
            raise SystemExit(str(exc)) from None
        started = time.monotonic()
        shown: dict[str, Progress] = {}

        def show(progress: Progress) -> None:
            shown[progress.projection] = progress
            done = sum(p.position for p in shown.values())
            total = sum(p.head for p in shown.values()) * len(wanted) // max(len(shown), 1)
            rate = done / max(time.monotonic() - started, 1e-6)
            label = "all" if len(wanted) > 1 else progress.projection
            _bar(label, done, total, rate, (total - done) / rate if rate else None)

        results = await app.rebuild(wanted, show, parallel=args.parallel)
        sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        for done in results:
            print(
                f"{done.projection}: {done.head:,} events in {done.elapsed:.1f}s"
                f" ({done.rate:,.0f}/s)"
            )
        head = max((d.head for d in results), default=0)
        print(
            f"all {len(results)} projections: {head:,} journal events in {elapsed:.1f}s"
            f" ({head / max(elapsed, 1e-6):,.0f} events/s)"
        )


def build_parser() -> argparse.ArgumentParser:
    """The command line of `csm-reporting-rebuild`."""
    parser = argparse.ArgumentParser(
        prog="csm-reporting-rebuild",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-p", "--projection", action="append", help="only this projection")
    parser.add_argument(
        "--from",
        dest="source",
        choices=["journal", "broker", "stores"],
        default="journal",
        help="where the history comes from",
    )
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
