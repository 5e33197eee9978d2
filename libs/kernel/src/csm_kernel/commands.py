"""The operator's commands every service has: `csm-<service> republish | verify | dead-letters`.

- `republish --from N [--to M]`: publish the stored events with positions in (N, M] again.
- `verify`: check every stream's hash chain; says how many events and streams it checked (with
  a progress bar on a terminal when the store is large).
- `dead-letters list [--all]`, `show ID…`, `replay ID…`, `discard ID… --reason TEXT`: the
  consumer's dead letters (`csm_kernel.dead_letters`). Replaying publishes each message to its
  source topic again for the consumer to handle afresh (the others skip it).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Callable, Collection
from typing import Any

from aiokafka import AIOKafkaProducer

from . import dead_letters
from .database import connect_pool
from .progress import Progress
from .relay import MessageSigner, OutboxRelay, make_producer
from .settings import ServiceSettings
from .store.postgres import PostgresEventStore
from .verify import verify_history


def add_commands(sub: Any, skip: Collection[str] = ()) -> None:
    """Add the commands to an `argparse` sub-parser collection, but those in `skip` (a
    service's own command of that name replaces the kernel's)."""
    if "republish" not in skip:
        rep = sub.add_parser("republish", help="publish a range of stored events to Kafka again")
        rep.add_argument("--from", dest="start", type=int, default=0, help="after this position")
        rep.add_argument("--to", dest="end", type=int, default=None, help="up to this position")
    if "verify" not in skip:
        sub.add_parser("verify", help="check every stream's hash chain")
    if "dead-letters" in skip:
        return
    dl = sub.add_parser("dead-letters", help="inspect, replay or discard dead letters")
    actions = dl.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the pending dead letters")
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    for action, what in (("show", "show in full"), ("replay", "publish to their topic again")):
        one = actions.add_parser(action, help=what)
        one.add_argument("ids", nargs="+", type=int)
    discard = actions.add_parser("discard", help="resolve without handling, saying why")
    discard.add_argument("ids", nargs="+", type=int)
    discard.add_argument("--reason", required=True)


def run_command(
    args: argparse.Namespace,
    settings: ServiceSettings,
    *,
    signer: Callable[[], MessageSigner] | None = None,
) -> int:
    """Run the command `args` names; its exit status. `republish` signs what it publishes
    with `signer()`, when given, as the service's relay does."""
    if args.command == "republish":
        count = asyncio.run(
            _republish(settings, args.start, args.end, signer() if signer else None)
        )
        print(f"republished {count} events")
        return 0
    if args.command == "verify":
        return asyncio.run(_verify(settings))
    return asyncio.run(_dead_letters(settings, args))


async def _republish(
    settings: ServiceSettings, start: int, end: int | None, signer: MessageSigner | None
) -> int:
    pool = await connect_pool(settings.database_url, size=2)
    relay = OutboxRelay(PostgresEventStore(pool), settings.kafka_bootstrap, signer=signer)
    await relay.start()
    try:
        return await relay.republish(start, end)
    finally:
        await relay.stop()
        await pool.close()


async def _verify(settings: ServiceSettings) -> int:
    pool = await connect_pool(settings.database_url, size=2)
    try:
        head = int(await pool.fetchval("SELECT coalesce(max(position), 0) FROM events"))
        progress = Progress("verifying", head)
        result = await verify_history(PostgresEventStore(pool).iterate_all(), progress.update)
        progress.close()
    finally:
        await pool.close()
    for link in result.broken:
        print(f"BROKEN {link.stream_id} at version {link.stream_version}: {link.reason}")
    checked = f"checked {result.events:,} events in {result.streams:,} streams"
    if result.broken:
        print(f"{checked}: {len(result.broken):,} broken")
        return 1
    print(f"{checked}: every stream's hash chain holds")
    return 0


async def _dead_letters(settings: ServiceSettings, args: argparse.Namespace) -> int:
    pool = await connect_pool(settings.database_url, size=2)
    try:
        if args.action == "list":
            letters = await dead_letters.list_dead_letters(pool, everything=args.all)
            if not letters:
                print("no dead letters" if args.all else "no pending dead letters")
            for letter in letters:
                print(_line(letter))
            return 0
        letters = await dead_letters.get_dead_letters(pool, args.ids)
        missing = sorted(set(args.ids) - {letter.id for letter in letters})
        if missing:
            print(f"no dead letter with id {', '.join(map(str, missing))}")
        if args.action == "show":
            for letter in letters:
                print(json.dumps(_shown(letter), indent=2, default=str))
        elif args.action == "discard":
            done = await dead_letters.resolve(
                pool, args.ids, status="discarded", by=getpass.getuser(), resolution=args.reason
            )
            print(f"discarded {done} dead letters")
        else:
            replayed = await _replay(settings, pool, letters)
            print(f"replayed {replayed} dead letters")
        return 1 if missing else 0
    finally:
        await pool.close()


async def _replay(
    settings: ServiceSettings, pool: Any, letters: list[dead_letters.DeadLetter]
) -> int:
    pending = [letter for letter in letters if letter.status == "pending"]
    for letter in letters:
        if letter.status != "pending":
            print(f"{letter.id}: already {letter.status}; left alone")
    if not pending:
        return 0
    producer: AIOKafkaProducer = make_producer(settings.kafka_bootstrap)
    await producer.start()
    try:
        for letter in pending:
            await producer.send_and_wait(
                letter.source_topic,
                value=letter.value,
                key=letter.key,
                headers=dead_letters.original_headers(letter),
            )
            await dead_letters.resolve(
                pool,
                [letter.id],
                status="replayed",
                by=getpass.getuser(),
                resolution=f"published to {letter.source_topic} again",
            )
    finally:
        await producer.stop()
    return len(pending)


def _line(letter: dead_letters.DeadLetter) -> str:
    handled = " (handled since)" if letter.handled_since else ""
    return (
        f"{letter.id:>6}  {letter.status:<9} {letter.consumer}  {letter.reason}  "
        f"{letter.event_type or '?'}  {letter.source_topic}[{letter.partition}]@{letter.offset}  "
        f"x{letter.times}  last {letter.last_at:%Y-%m-%d %H:%M:%S}{handled}: "
        f"{letter.error[:120]}"
    )


def _shown(letter: dead_letters.DeadLetter) -> dict[str, Any]:
    shown = {k: v for k, v in vars(letter).items() if k not in ("key", "value")}
    shown["key"] = letter.key.decode(errors="replace") if letter.key else None
    shown["value"] = letter.value.decode(errors="replace") if letter.value else None
    return shown
