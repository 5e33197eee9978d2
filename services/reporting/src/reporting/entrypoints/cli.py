"""Reporting's own commands: `csm-reporting rebuild` and `csm-reporting verify`.

`csm-reporting rebuild` (also `csm-reporting-rebuild`) rebuilds projections from the full
history, beside the live ones.

    csm-reporting rebuild                       # every projection, from the journal
    csm-reporting rebuild -p progress -p responses
    csm-reporting rebuild --from broker         # refill the journal from every topic's offset 0
    csm-reporting rebuild --from stores         # ... or from the services' event stores when
                                                # the broker is empty (Tansu keeps topics in memory)

It reads the settings a service command reads (`csm_kernel.settings.command_settings`): next
to `make run` it finds reporting's database (and, for `--from stores`, the registration,
questionnaire and notification databases beside it) and the broker with no variables beyond
the ones `make run` reads (`CSM_PG_PORT`, `CSM_BROKER_PORT`); `CSM_DATABASE_URL`,
`CSM_KAFKA_BOOTSTRAP` and the options below say otherwise. Its Kafka client logs in as every
client of the service does (`csm_kernel.kafka_security`).

The live service keeps serving the old tables until each new one is swapped in. A progress bar
(count, share and events/s) is drawn on a terminal; log lines clear it before they are written.

`csm-reporting verify [--database-url URL]` checks what reporting holds: each journal event's
hash against its stream's chain as received from the services (`application.verifying`). It
prints the first broken link of each broken stream and how many events and streams it checked
(exit status 1 if any is broken), or that the journal holds nothing to verify.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

from csm_kernel.observability import configure_logging, get_logger
from csm_kernel.progress import Progress
from csm_kernel.runtime import ServiceCommand
from csm_kernel.settings import ServiceSettings, command_settings

from ..application.ports import HistoryBatch
from ..application.projection import Progress as RebuildProgress
from ..application.rebuilding import Rebuilding, UnknownProjections
from ..application.verifying import verify_journal
from ..bootstrap import REBUILD_PARALLEL, journal_received, rebuilding

log = get_logger(__name__)

#: The services whose event stores hold reporting's history (`--from stores`), each in the
#: database named after it on reporting's server when the stack runs them (`make run`).
STORES = ("registration", "questionnaire", "notification")


class Bar:
    """A `csm_kernel.progress.Progress` made on the first update (when the total is known),
    cleared before any log line is written while it is shown, so no line overwrites it."""

    def __init__(self, what: str, *, stream: TextIO | None = None, force: bool = False) -> None:
        self.what = what
        self.stream = stream
        self.force = force
        self.progress: Progress | None = None
        self._filter = _ClearFirst(self)

    def update(self, done: int, total: int) -> None:
        """`done` of `total` (which may grow as it is better known) are done now."""
        if self.progress is None:
            self.progress = Progress(self.what, total, stream=self.stream, force=self.force)
        self.progress.total = max(total, 0)
        self.progress.update(done)

    def clear(self) -> None:
        """Wipe the bar (the next update draws it again)."""
        if self.progress is not None:
            self.progress.clear()

    def __enter__(self) -> Bar:
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._filter)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._filter)
        if self.progress is not None:
            if error is None:
                self.progress.close()
            else:
                self.progress.clear()


class _ClearFirst(logging.Filter):
    """Clears a bar before its handler writes a record (and lets every record through)."""

    def __init__(self, bar: Bar) -> None:
        super().__init__()
        self.bar = bar

    def filter(self, record: logging.LogRecord) -> bool:
        self.bar.clear()
        return True


def _refill_shown(bar: Bar, batch: HistoryBatch) -> None:
    for reason in batch.skipped:
        log.warning("skipped an undecodable message", source=bar.what, reason=reason)
    bar.update(batch.seen, batch.total)


def store_urls(database_url: str) -> list[str]:
    """The event stores of `STORES` on the server of reporting's database (`database_url`)."""
    server = database_url.split("?", 1)[0].rsplit("/", 1)[0]
    return [f"{server}/{store}" for store in STORES]


async def _refill(app: Rebuilding, args: argparse.Namespace, settings: ServiceSettings) -> None:
    if args.source == "broker":
        with Bar("broker") as bar:
            added = await app.refill_from_broker(
                args.bootstrap or settings.kafka_bootstrap,
                lambda batch: _refill_shown(bar, batch),
            )
        print(f"journal: {added:,} new events from the broker")
    elif args.source == "stores":
        added = 0
        for url in args.store_url or store_urls(args.database_url or settings.database_url):
            with Bar(url.rsplit("/", 1)[-1]) as bar:
                added += await app.refill_from_store(url, lambda batch: _refill_shown(bar, batch))
        print(f"journal: {added:,} new events from the stores")


async def run(args: argparse.Namespace, settings: ServiceSettings | None = None) -> None:
    """Refill the journal if asked, then rebuild the projections asked for (default all)."""
    settings = settings or command_settings("reporting")
    async with rebuilding(args.database_url or settings.database_url) as app:
        await _refill(app, args, settings)
        try:
            wanted = app.wanted(args.projection)
        except UnknownProjections as exc:
            raise SystemExit(str(exc)) from None
        started = time.monotonic()
        shown: dict[str, RebuildProgress] = {}
        label = "rebuilding all" if len(wanted) > 1 else f"rebuilding {wanted[0]}"

        with Bar(label) as bar:

            def show(progress: RebuildProgress) -> None:
                shown[progress.projection] = progress
                done = sum(p.position for p in shown.values())
                total = sum(p.head for p in shown.values()) * len(wanted) // max(len(shown), 1)
                bar.update(done, total)

            results = await app.rebuild(wanted, show, parallel=args.parallel)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the rebuild command."""
    parser.add_argument("-p", "--projection", action="append", help="only this projection")
    parser.add_argument(
        "--from",
        dest="source",
        choices=["journal", "broker", "stores"],
        default="journal",
        help="where the history comes from (default: the journal)",
    )
    parser.add_argument(
        "--store-url",
        action="append",
        help="a service's event-store database (default, with --from stores: the "
        f"{', '.join(STORES)} databases beside reporting's)",
    )
    parser.add_argument(
        "--database-url",
        help="reporting's database (default: CSM_DATABASE_URL, else the stack's, on CSM_PG_PORT)",
    )
    parser.add_argument(
        "--bootstrap",
        help="Kafka bootstrap (default: CSM_KAFKA_BOOTSTRAP, else the stack's, on CSM_BROKER_PORT)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=REBUILD_PARALLEL,
        help=f"projections rebuilt at once (default {REBUILD_PARALLEL})",
    )


def run_command(args: argparse.Namespace, settings: ServiceSettings) -> int:
    """Run the rebuild with the command settings; its exit status."""
    asyncio.run(run(args, settings))
    return 0


#: `csm-reporting rebuild`, listed by `csm-reporting --help` with the kernel's commands.
REBUILD = ServiceCommand(
    "rebuild projections from the full history (journal, broker or event stores)",
    add_arguments,
    run_command,
)


#: What it says of an empty journal (rather than that every chain holds).
NOTHING = "the journal holds no events: nothing to verify"


async def verify(database_url: str, out: TextIO | None = None) -> int:
    """Check the journal at `database_url`, print what was found; the exit status."""
    async with journal_received(database_url) as journal:
        head = await journal.head()
        if head == 0:
            print(NOTHING, file=out)
            return 0
        progress = Progress("verifying", head)
        try:
            result = await verify_journal(journal, progress.update)
        finally:
            progress.close()
    for link in result.broken:
        print(f"BROKEN {link.stream_id} at version {link.stream_version}: {link.reason}", file=out)
    checked = f"checked {result.events:,} journal events in {result.streams:,} streams"
    if result.broken:
        print(f"{checked}: {len(result.broken):,} broken", file=out)
        return 1
    print(f"{checked}: every stream's hash chain holds as received", file=out)
    return 0


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the verify command."""
    parser.add_argument(
        "--database-url",
        help="reporting's database (default: CSM_DATABASE_URL, else the stack's, on CSM_PG_PORT)",
    )


def run_verify(args: argparse.Namespace, settings: ServiceSettings) -> int:
    """Verify with the command settings; the exit status."""
    return asyncio.run(verify(args.database_url or settings.database_url))


#: `csm-reporting verify`, in place of the kernel's (which reads the empty `events` table).
VERIFY = ServiceCommand(
    "check every journal event's hash against its stream's chain as received",
    add_verify_arguments,
    run_verify,
)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `csm-reporting-rebuild` (the same as `csm-reporting rebuild`)."""
    parser = argparse.ArgumentParser(
        prog="csm-reporting-rebuild",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging("reporting")
    sys.exit(run_command(args, command_settings("reporting")))
