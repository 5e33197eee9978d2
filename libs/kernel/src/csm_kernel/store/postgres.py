"""The PostgreSQL event store (asyncpg).

Gap-free global positions: `csm_append` (store/sql/001_event_store.sql) takes a
transaction-scoped advisory lock before it draws positions and holds it until commit, so
positions become visible in the order they were drawn. A reader that has read position N can
never later find a new event below N, which a plain identity column alone does not promise (a
position is drawn at insert but becomes visible at commit). The price is that append
transactions commit one at a time; group commit (below) shares each commit among the appends
that arrive together.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from csm_contracts.envelope import EventEnvelope

from ..clock import Clock, SystemClock
from ..database import Connection
from ..errors import ConcurrencyConflict
from .base import (
    AppendContext,
    EventStore,
    NewEvent,
    PreparedEvent,
    prepare_events,
    stored_envelope,
    utc_now,
)

#: The transaction-scoped advisory lock `csm_append` takes before it draws positions and holds
#: until commit (`store/sql/001_event_store.sql`), so every append of one database waits for
#: whoever holds it. A service may take it too, to order a write of its own with its appends
#: (registration: a sign-off its consumer records, against the directory's writes).
POSITION_LOCK = 7300000

_COLUMNS = (
    "position, event_id, stream_id, stream_version, type, version, occurred_at, key, "
    "correlation_id, causation_id, actor, data, prev_hash, hash"
)


#: A run of 19 digits: an integer orjson might not read exactly (beyond 64 bits it gives a
#: float), or a number with more digits than a double holds. Rare; read by the standard library.
_LONG_NUMBER = re.compile(r"\d{19}")


def payload_from_text(text: str) -> dict[str, Any]:
    """A stored payload (`data`, jsonb as text) as Python, exactly as `json.loads` reads it.

    orjson is ~3 times faster (0.6 against 2 µs for a small payload), which matters when
    replaying; but it reads an integer beyond 64 bits as a float and refuses a number beyond a
    double, and either would change the payload the chain hash covers. Text that might hold
    such a number (any run of 19 digits, even inside a string) or that orjson refuses goes to
    the standard library instead."""
    if _LONG_NUMBER.search(text) is None:
        try:
            data: dict[str, Any] = orjson.loads(text)
            return data
        except orjson.JSONDecodeError:
            pass
    data = json.loads(text)
    return data


def envelope_from_row(row: asyncpg.Record) -> EventEnvelope:
    """An envelope from a row of the events table (columns in `_COLUMNS` order)."""
    (
        position,
        event_id,
        stream_id,
        stream_version,
        type_,
        version,
        occurred_at,
        key,
        correlation_id,
        causation_id,
        actor,
        data,
        prev_hash,
        hash_,
    ) = row[:14]
    # Rows come from our own table, whose constraints already hold: build without validating.
    return EventEnvelope.trusted(
        event_id=event_id,
        type=type_,
        version=version,
        occurred_at=occurred_at,
        stream_id=stream_id,
        stream_version=stream_version,
        key=key,
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=actor,
        data=payload_from_text(data),
        prev_hash=prev_hash,
        hash=hash_,
        position=position,
    )


@dataclass(frozen=True)
class StreamAppend:
    """One stream's part of a bulk append: its expected version and new events."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]


_APPEND_SQL = (
    "SELECT out_append, out_ok, out_stream_id, out_stream_version, out_position, "
    "out_prev_hash, out_hash "
    "FROM csm_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
)


@dataclass
class PreparedAppend:
    """An append numbered, stamped and serialised, ready to write (see `prepare_many`)."""

    stream_id: str
    expected_version: int
    context: AppendContext
    occurred_at: datetime
    prepared: list[PreparedEvent]
    result: asyncio.Future[list[EventEnvelope]] | None = None


def _arguments(appends: Sequence[PreparedAppend]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(15)]
    for number, a in enumerate(appends, start=1):
        for column, value in zip(
            columns[:7],
            (
                a.stream_id,
                a.expected_version,
                a.context.correlation_id,
                a.context.causation_id,
                a.context.actor,
                a.context.trace_context,
                a.occurred_at,
            ),
            strict=True,
        ):
            column.append(value)
        for p in a.prepared:
            columns[7].append(number)
            columns[8].append(p.event_id)
            columns[9].append(p.event.type)
            columns[10].append(p.event.version)
            columns[11].append(p.event.key)
            columns[12].append(p.stream_version)
            columns[13].append(p.data_json)
            columns[14].append(p.canonical)
    return columns


def _outcomes(
    appends: Sequence[PreparedAppend], rows: Sequence[asyncpg.Record]
) -> list[list[EventEnvelope] | ConcurrencyConflict]:
    refused: dict[int, int] = {}
    written: dict[tuple[str, int], asyncpg.Record] = {}
    for row in rows:
        if row["out_ok"]:
            written[(row["out_stream_id"], row["out_stream_version"])] = row
        else:
            refused[row["out_append"]] = row["out_stream_version"]
    outcomes: list[list[EventEnvelope] | ConcurrencyConflict] = []
    for number, a in enumerate(appends, start=1):
        if number in refused:
            outcomes.append(ConcurrencyConflict(a.stream_id, a.expected_version, refused[number]))
            continue
        envelopes = []
        for p in a.prepared:
            row = written[(a.stream_id, p.stream_version)]
            envelopes.append(
                stored_envelope(
                    p,
                    a.stream_id,
                    a.context,
                    a.occurred_at,
                    row["out_prev_hash"],
                    row["out_hash"],
                    row["out_position"],
                )
            )
        outcomes.append(envelopes)
    return outcomes


class PostgresEventStore(EventStore):
    """Event streams in one PostgreSQL database (a service's own).

    Group commit: appends made at the same time through `append` are written together, in one
    transaction and one round trip, by at most `writers` background writers. Every append keeps
    its own version check and its own outcome; none returns before its transaction committed.
    Appends serialise on the position lock anyway (see the module docstring), so this is what
    lets concurrent writers share the cost of a commit instead of queueing for one each.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock | None = None,
        *,
        group_commit: bool = True,
        max_group_events: int = 500,
        writers: int = 2,
    ) -> None:
        self.pool = pool
        self._clock = clock or SystemClock()
        self._group_commit = group_commit
        self._max_group_events = max_group_events
        self._writers = writers
        self._queue: list[PreparedAppend] = []
        self._running: set[asyncio.Task[None]] = set()

    def prepare_append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: AppendContext,
    ) -> PreparedAppend:
        now = utc_now(self._clock.now())
        return PreparedAppend(
            stream_id,
            expected_version,
            context,
            now,
            prepare_events(stream_id, expected_version, events, context, now),
        )

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: AppendContext,
    ) -> list[EventEnvelope]:
        if not events:
            return []
        if not self._group_commit:
            async with self.pool.acquire() as conn:
                return await self.append_with(conn, stream_id, expected_version, events, context)
        pending = self.prepare_append(stream_id, expected_version, events, context)
        pending.result = asyncio.get_running_loop().create_future()
        self._queue.append(pending)
        if len(self._running) < self._writers:
            task = asyncio.create_task(self._write_queued())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await pending.result

    async def _write_queued(self) -> None:
        while self._queue:
            group: list[PreparedAppend] = []
            size = 0
            while self._queue and (not group or size < self._max_group_events):
                group.append(self._queue.pop(0))
                size += len(group[-1].prepared)
            try:
                async with self.pool.acquire() as conn:
                    rows = await conn.fetch(_APPEND_SQL, *_arguments(group))
                outcomes: list[list[EventEnvelope] | BaseException] = list(_outcomes(group, rows))
            except asyncpg.UniqueViolationError:
                # Only a writer bypassing csm_append could cause this: all must reload.
                outcomes = [ConcurrencyConflict(a.stream_id, a.expected_version) for a in group]
            except Exception as exc:
                outcomes = [exc for _ in group]
            for a, outcome in zip(group, outcomes, strict=True):
                assert a.result is not None
                if a.result.done():  # the caller gave up waiting
                    continue
                if isinstance(outcome, BaseException):
                    a.result.set_exception(outcome)
                else:
                    a.result.set_result(outcome)

    async def append_with(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: AppendContext,
    ) -> list[EventEnvelope]:
        """Append on a given connection, so callers can add their own writes to the same
        transaction (e.g. a uniqueness claim). Atomic on its own when no transaction is open."""
        if not events:
            return []
        pending = self.prepare_append(stream_id, expected_version, events, context)
        try:
            rows = await conn.fetch(_APPEND_SQL, *_arguments([pending]))
        except asyncpg.UniqueViolationError as exc:
            raise ConcurrencyConflict(stream_id, expected_version) from exc
        (outcome,) = _outcomes([pending], rows)
        if isinstance(outcome, ConcurrencyConflict):
            raise outcome
        return outcome

    def prepare_many(
        self, appends: Sequence[StreamAppend], context: AppendContext
    ) -> list[PreparedAppend]:
        """Event ids, times and canonical JSON for many appends, with no I/O: do this before
        opening the transaction that writes them, which holds the position lock to commit."""
        return [
            self.prepare_append(a.stream_id, a.expected_version, a.events, context) for a in appends
        ]

    async def write_prepared(
        self,
        conn: Connection,
        prepared: Sequence[PreparedAppend],
        *,
        chunk_appends: int = 100,
        chunk_events: int = 1000,
    ) -> list[bool]:
        """Write prepared appends on `conn`; for each, whether it was written (False: its stream
        was not at the expected version, and nothing of it was written). Builds no envelopes.
        Chunks of ~100 appends per call measured fastest (csm_append scans the streams it has
        seen in a call)."""
        written: list[bool] = []
        start = 0
        while start < len(prepared):
            end, size = start, 0
            while end < len(prepared) and (
                end == start or (size < chunk_events and end - start < chunk_appends)
            ):
                size += len(prepared[end].prepared)
                end += 1
            chunk = prepared[start:end]
            try:
                rows = await conn.fetch(_APPEND_SQL, *_arguments(chunk))
            except asyncpg.UniqueViolationError:
                written.extend(False for _ in chunk)
            else:
                refused = {r["out_append"] for r in rows if not r["out_ok"]}
                written.extend(n not in refused for n in range(1, len(chunk) + 1))
            start = end
        return written

    async def append_many_with(
        self,
        conn: Connection,
        appends: Sequence[StreamAppend],
        context: AppendContext,
        *,
        chunk_events: int = 1000,
    ) -> list[list[EventEnvelope]]:
        """Append to many streams at once, all or nothing, on a given connection (bulk imports).

        A few round trips instead of one per stream. Runs in a transaction (a savepoint inside
        the caller's): if any stream is not at its expected version, nothing is appended and
        `ConcurrencyConflict` names the first such stream.
        """
        pending = [
            self.prepare_append(a.stream_id, a.expected_version, a.events, context)
            for a in appends
            if a.events
        ]
        written: list[list[EventEnvelope]] = []
        async with conn.transaction():
            start = 0
            while start < len(pending):
                end, size = start, 0
                while end < len(pending) and (
                    end == start or (size < chunk_events and end - start < 100)
                ):
                    size += len(pending[end].prepared)
                    end += 1
                chunk = pending[start:end]
                try:
                    rows = await conn.fetch(_APPEND_SQL, *_arguments(chunk))
                except asyncpg.UniqueViolationError as exc:
                    first = chunk[0]
                    raise ConcurrencyConflict(first.stream_id, first.expected_version) from exc
                for outcome in _outcomes(chunk, rows):
                    if isinstance(outcome, ConcurrencyConflict):
                        raise outcome
                    written.append(outcome)
                start = end
        # In the order asked, with an empty list for an append that had no events.
        stored = iter(written)
        return [next(stored) if a.events else [] for a in appends]

    async def read_stream(
        self, stream_id: str, after_version: int = 0, conn: Connection | None = None
    ) -> list[EventEnvelope]:
        rows = await (conn or self.pool).fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 "
            "ORDER BY stream_version",
            stream_id,
            after_version,
        )
        return [envelope_from_row(r) for r in rows]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[EventEnvelope]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after_position,
            limit,
        )
        return [envelope_from_row(r) for r in rows]

    async def iterate_all(
        self, after_position: int = 0, to_position: int | None = None, batch: int = 5000
    ) -> AsyncIterator[EventEnvelope]:
        """Every event after `after_position` up to `to_position` (inclusive), in order.

        A page's rows are fetched together but their envelopes are built one at a time, as the
        reader takes them: a page of 5,000 live envelopes (each a model with its dict and its
        payload's dicts) kept the garbage collector walking them while the page was built,
        which cost as much as the decoding (replay measured 14.5 against 6 µs of CPU a
        event, `docs/benchmarks.md`, 2026-12-06)."""
        position = after_position
        while True:
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE position > $1 "
                "AND ($3::bigint IS NULL OR position <= $3) ORDER BY position LIMIT $2",
                position,
                batch,
                to_position,
            )
            for row in rows:
                yield envelope_from_row(row)
            if len(rows) < batch:
                return
            position = rows[-1][0]

    async def read_for_publication(
        self, after_position: int = 0, limit: int = 1000, to_position: int | None = None
    ) -> list[asyncpg.Record]:
        """Rows for the relay, in position order: the envelope's fields as text where the
        message needs text (event id, time, payload JSON exactly as stored) and the stored
        trace context. Skips building envelopes, which the relay would only take apart."""
        return await self.pool.fetch(
            "SELECT position, event_id::text AS event_id, stream_id, stream_version, type, "
            "version, occurred_at, key, correlation_id, causation_id, actor, data::text AS data, "
            "prev_hash, hash, trace_context FROM events WHERE position > $1 "
            "AND ($3::bigint IS NULL OR position <= $3) ORDER BY position LIMIT $2",
            after_position,
            limit,
            to_position,
        )

    async def position_at_or_before(self, position: int) -> int:
        """The position of the last stored event at or before `position` (0 if none)."""
        value: Any = await self.pool.fetchval(
            "SELECT coalesce(max(position), 0) FROM events WHERE position <= $1", position
        )
        return int(value)

    async def max_position(self) -> int:
        value: Any = await self.pool.fetchval("SELECT coalesce(max(position), 0) FROM events")
        return int(value)

    async def stream_version(self, stream_id: str) -> int:
        value: Any = await self.pool.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id
        )
        return int(value)
