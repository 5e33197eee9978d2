"""The PostgreSQL event store (asyncpg).

Gap-free global positions: `csm_append_events` takes a transaction-scoped advisory lock just
before it draws positions and holds it until commit, so positions become visible in the order
they were drawn. A reader that has read position N can never later find a new event below N,
which a plain identity column alone does not promise (a position is drawn at insert but
becomes visible at commit). The price is that appends commit one at a time; the lock is taken
as late as possible (after the version check, right before the insert) to keep that short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from csm_contracts.envelope import EventEnvelope

from ..clock import Clock, SystemClock
from ..database import Connection
from ..errors import ConcurrencyConflict
from .base import AppendContext, EventStore, NewEvent, prepare_events, stored_envelope, utc_now

_COLUMNS = (
    "position, event_id, stream_id, stream_version, type, version, occurred_at, key, "
    "correlation_id, causation_id, actor, data, prev_hash, hash"
)


def envelope_from_row(row: asyncpg.Record) -> EventEnvelope:
    """An envelope from a row of the events table (columns in `_COLUMNS` order)."""
    (position, event_id, stream_id, stream_version, type_, version, occurred_at, key,
     correlation_id, causation_id, actor, data, prev_hash, hash_) = row[:14]  # fmt: skip
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
        data=json.loads(data),
        prev_hash=prev_hash,
        hash=hash_,
        position=position,
    )


class PostgresEventStore(EventStore):
    """Event streams in one PostgreSQL database (a service's own)."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock | None = None) -> None:
        self.pool = pool
        self._clock = clock or SystemClock()

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: AppendContext,
    ) -> list[EventEnvelope]:
        async with self.pool.acquire() as conn:
            return await self.append_with(conn, stream_id, expected_version, events, context)

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
        now = utc_now(self._clock.now())
        prepared = prepare_events(stream_id, expected_version, events, context, now)
        try:
            rows = await conn.fetch(
                "SELECT * FROM csm_append_events("
                "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                stream_id,
                expected_version,
                [p.event_id for p in prepared],
                [p.event.type for p in prepared],
                [p.event.version for p in prepared],
                now,
                [p.event.key for p in prepared],
                context.correlation_id,
                context.causation_id,
                context.actor,
                [p.canonical for p in prepared],
                context.trace_context,
            )
        except asyncpg.UniqueViolationError as exc:
            raise ConcurrencyConflict(stream_id, expected_version) from exc
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) == "CS409":
                detail = getattr(exc, "detail", None)
                actual = int(detail) if detail and detail.isdigit() else None
                raise ConcurrencyConflict(stream_id, expected_version, actual) from exc
            raise
        rows = sorted(rows, key=lambda r: r[0])
        return [
            stored_envelope(p, stream_id, context, now, r[1], r[2], r[0])
            for p, r in zip(prepared, rows, strict=True)
        ]

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[EventEnvelope]:
        rows = await self.pool.fetch(
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

    async def read_all_with_trace(
        self, after_position: int = 0, limit: int = 1000, to_position: int | None = None
    ) -> list[tuple[EventEnvelope, str | None]]:
        """Like `read_all`, with each event's stored trace context (for the relay)."""
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS}, trace_context FROM events WHERE position > $1 "
            "AND ($3::bigint IS NULL OR position <= $3) ORDER BY position LIMIT $2",
            after_position,
            limit,
            to_position,
        )
        return [(envelope_from_row(r), r["trace_context"]) for r in rows]

    async def max_position(self) -> int:
        value: Any = await self.pool.fetchval("SELECT coalesce(max(position), 0) FROM events")
        return int(value)

    async def stream_version(self, stream_id: str) -> int:
        value: Any = await self.pool.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id
        )
        return int(value)
