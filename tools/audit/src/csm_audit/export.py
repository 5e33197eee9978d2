"""`csm-audit export`: each service store's events, as they are stored, into a signed bundle.

Speed: PostgreSQL itself writes each event's JSON line (the `data` column's exact text is
pasted in, never re-serialised, so every hash still verifies) and sends the rows by a binary
COPY; Python only splits the stream, counts, and compresses. One snapshot per store
(REPEATABLE READ), so a store's file is one consistent moment of that store.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import IO

import asyncpg

from csm_kernel.signing import KeyRing

from .bundle import (
    FORMAT_VERSION,
    JWKS,
    MANIFEST,
    SIGNATURE,
    Manifest,
    StoreEntry,
    StreamHead,
    StreamTypeCount,
    events_file,
    manifest_bytes,
    pack,
    stream_type,
    write_json,
)
from .copy_binary import CopyRows

_LEVEL = 1
#: Events handed to the compressing thread at a time.
_BATCH = 2_000

# One JSON line per event, built by the server. `occurred_at` is written the way the hash
# covers it (`datetime.isoformat(timespec="microseconds")` of the UTC instant).
_LINE = """
    '{"position":' || position
    || ',"event_id":"' || event_id
    || '","stream_id":' || to_json(stream_id)
    || ',"stream_version":' || stream_version
    || ',"type":' || to_json(type)
    || ',"version":' || version
    || ',"occurred_at":"'
    || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00"'
    || ',"key":' || to_json(key)
    || ',"correlation_id":' || to_json(correlation_id)
    || ',"causation_id":' || coalesce(to_json(causation_id)::text, 'null')
    || ',"actor":' || to_json(actor)
    || ',"data":' || data::text
    || ',"prev_hash":"' || prev_hash || '","hash":"' || hash || '"}'
"""

# A cycle's questionnaire-store streams: every stream whose first event names the cycle
# (questionnaires, the organisations' returns, and the cycle's own stream all do).
_CYCLE_STREAMS = (
    "stream_id IN (SELECT stream_id FROM events WHERE stream_version = 1 AND data->>'cycle' = $1)"
)


@dataclass(frozen=True)
class Scope:
    """What to export: everything, or one cycle (its questionnaire-store streams whole, with
    all of registration and notification)."""

    cycle: str | None = None

    @property
    def name(self) -> str:
        return "all" if self.cycle is None else f"cycle:{self.cycle}"

    def filter(self, store: str) -> tuple[str, list[str]]:
        """The WHERE clause and its arguments for `store`'s rows."""
        if self.cycle is None or store != "questionnaire":
            return "true", []
        return _CYCLE_STREAMS, [self.cycle]


@dataclass
class _StoreWriter:
    """Counts, heads and the compressed file of one store, filled row by row."""

    store: str
    out: IO[bytes]
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    size: int = 0
    events: int = 0
    first: int | None = None
    last: int | None = None
    heads: dict[str, StreamHead] = field(default_factory=dict)
    per_type: dict[str, StreamTypeCount] = field(default_factory=dict)

    def write(self, data: bytes) -> int:  # the gzip stream's sink: hash and count its bytes
        self.digest.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()

    def row(self, position: int, stream_id: str, stream_version: int, hash_: str) -> None:
        self.events += 1
        if self.first is None:
            self.first = position
        self.last = position
        kind = stream_type(stream_id)
        counts = self.per_type.setdefault(kind, {"streams": 0, "events": 0})
        counts["events"] += 1
        if stream_version == 1:
            counts["streams"] += 1
        self.heads[stream_id] = {"version": stream_version, "hash": hash_}

    def entry(self) -> StoreEntry:
        return {
            "file": events_file(self.store),
            "sha256": self.digest.hexdigest(),
            "bytes": self.size,
            "events": self.events,
            "first_position": self.first,
            "last_position": self.last,
            "stream_types": dict(sorted(self.per_type.items())),
            "stream_heads": dict(sorted(self.heads.items())),
        }


async def export_store(
    dsn: str,
    store: str,
    bundle: Path,
    scope: Scope,
    on_count: Callable[[int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> StoreEntry:
    """Write `events/<store>.jsonl.gz` from the store at `dsn`; its manifest entry.

    `on_count` is told how many events will be written, `on_rows` how many each batch wrote.
    """
    where, args = scope.filter(store)
    path = bundle / events_file(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if on_count is not None:
                on_count(await conn.fetchval(f"SELECT count(*) FROM events WHERE {where}", *args))
            with path.open("wb") as raw:
                writer = _StoreWriter(store, raw)
                # mtime 0: the same history always gives the same bytes. Level 1: a third
                # of level 6's time for 5.3x instead of 6x on event JSON (2026-12-06).
                with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=_LEVEL, mtime=0) as gz:
                    rows = CopyRows(5)
                    pending: list[bytes] = []

                    async def compress() -> None:
                        # zlib lets go of the GIL: other stores' rows are split meanwhile.
                        pending.append(b"")
                        await asyncio.to_thread(gz.write, b"\n".join(pending))
                        if on_rows is not None:
                            on_rows(len(pending) - 1)
                        pending.clear()

                    async def sink(chunk: bytes) -> None:
                        lines = pending
                        for position, stream_id, stream_version, hash_, line in rows.feed(chunk):
                            writer.row(
                                int.from_bytes(position, "big"),
                                stream_id.decode(),
                                int.from_bytes(stream_version, "big"),
                                hash_.decode(),
                            )
                            # A raw line break in json text can only be insignificant
                            # whitespace (strings escape theirs): one line per event.
                            lines.append(line.replace(b"\n", b" ") if b"\n" in line else line)
                        if len(lines) >= _BATCH:
                            await compress()

                    await conn.copy_from_query(
                        f"SELECT position, stream_id, stream_version, hash, {_LINE} "
                        f"FROM events WHERE {where} ORDER BY position",
                        *args,
                        output=sink,
                        format="binary",
                    )
                    rows.finish()
                    await compress()
    finally:
        await conn.close()
    return writer.entry()


def build_manifest(scope: Scope, stores: dict[str, StoreEntry], now: datetime) -> Manifest:
    return {
        "format_version": FORMAT_VERSION,
        "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "scope": scope.name,
        "exporter": {"name": "csm-audit", "version": version("csm-audit")},
        "stores": stores,
    }


def seal(bundle: Path, manifest: Manifest, keys: KeyRing) -> None:
    """Write the manifest, its detached signature and the public keys that verify it."""
    body = manifest_bytes(manifest)
    (bundle / MANIFEST).write_bytes(body)
    (bundle / SIGNATURE).write_text(keys.sign(body) + "\n")
    write_json(bundle / JWKS, keys.jwks())


def finish(bundle: Path, tar: bool) -> Path:
    """The bundle as asked: the directory, or a tar beside it (the directory removed)."""
    if not tar:
        return bundle
    archive = bundle.with_name(bundle.name + ".tar")
    pack(bundle, archive)
    shutil.rmtree(bundle)
    return archive
