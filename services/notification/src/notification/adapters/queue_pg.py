"""The sender's queue in PostgreSQL: due rows of `notifications` claimed with
`FOR UPDATE SKIP LOCKED` (so another sender skips them), their outcomes, and each outcome's
event appended through the event store's outbox in the claiming transaction."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from csm_kernel.database import Connection
from csm_kernel.store.base import NewEvent
from csm_kernel.store.postgres import PostgresEventStore

from ..application.ports import Backlog, Due, Failure, OutcomeEvent, QueueUnavailable

_CLAIM = """
SELECT id, kind, organisation_id, recipient, recipient_name, context::text AS context,
       caused_by, caused_by_type, attempts
FROM notifications
WHERE status = 'pending' AND next_attempt_at <= $1
ORDER BY next_attempt_at, created_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED
"""

_STREAM_VERSIONS = """
SELECT stream_id, max(stream_version) AS version FROM events
WHERE stream_id = ANY($1::text[]) GROUP BY stream_id
"""

_MARK_SENT = """
UPDATE notifications n
SET status = 'sent', sent_at = $2, attempts = n.attempts + 1, subject = u.subject,
    smtp_code = NULL
FROM unnest($1::text[], $3::text[]) AS u(id, subject)
WHERE n.id = u.id
"""

_MARK_FAILED = """
UPDATE notifications n
SET status = 'failed', attempts = n.attempts + 1, last_error = u.reason, smtp_code = u.code,
    subject = coalesce(u.subject, n.subject)
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS u(id, reason, code, subject)
WHERE n.id = u.id
"""

_MARK_DEFERRED = """
UPDATE notifications n
SET attempts = n.attempts + 1, next_attempt_at = u.next_at, last_error = u.reason,
    smtp_code = u.code, subject = coalesce(u.subject, n.subject)
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::text[])
     AS u(id, next_at, reason, code, subject)
WHERE n.id = u.id
"""

_NOTE_UNTRIED = """
UPDATE notifications SET last_error = $2 WHERE id = ANY($1::text[])
"""

#: What is waiting, read at each metrics scrape: the pending rows are the `notifications_due`
#: partial index, few when all is well.
_BACKLOG = """
SELECT count(*) AS queued, extract(epoch FROM $1::timestamptz - min(created_at)) AS oldest
FROM notifications
WHERE status = 'pending'
"""

#: The database being away: the sender backs off and tries again.
_UNAVAILABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _due(r: asyncpg.Record) -> Due:
    return Due(
        id=r["id"],
        kind=r["kind"],
        organisation_id=r["organisation_id"],
        recipient=r["recipient"],
        recipient_name=r["recipient_name"],
        context=json.loads(r["context"]),
        caused_by=r["caused_by"],
        caused_by_type=r["caused_by_type"],
        attempts=r["attempts"],
    )


class PostgresQueue:
    """`application.ports.Queue` in PostgreSQL, outcome events through `store`."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    @asynccontextmanager
    async def claim(self, now: datetime, limit: int) -> AsyncIterator[tuple[Connection, list[Due]]]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(_CLAIM, now, limit)
                yield conn, [_due(r) for r in rows]
        except _UNAVAILABLE as exc:
            raise QueueUnavailable(str(exc)) from exc

    async def mark_sent(
        self, conn: Connection, sent: Sequence[tuple[str, str | None]], now: datetime
    ) -> None:
        await conn.execute(_MARK_SENT, [i for i, _ in sent], now, [s for _, s in sent])

    async def mark_failed(self, conn: Connection, failed: Sequence[Failure]) -> None:
        await conn.execute(
            _MARK_FAILED,
            [f.id for f in failed],
            [f.reason for f in failed],
            [f.code for f in failed],
            [f.subject for f in failed],
        )

    async def mark_deferred(self, conn: Connection, deferred: Sequence[Failure]) -> None:
        await conn.execute(
            _MARK_DEFERRED,
            [f.id for f in deferred],
            [f.next_attempt_at for f in deferred],
            [f.reason for f in deferred],
            [f.code for f in deferred],
            [f.subject for f in deferred],
        )

    async def backlog(self, now: datetime) -> Backlog:
        """`application.ports.QueueBacklog`: one query; the age against `now` (the service's
        clock), never below 0."""
        row = await self._pool.fetchrow(_BACKLOG, now)
        assert row is not None
        oldest = row["oldest"]
        return Backlog(int(row["queued"]), max(float(oldest), 0.0) if oldest is not None else 0.0)

    async def note_untried(self, conn: Connection, ids: Sequence[str], reason: str) -> None:
        await conn.execute(_NOTE_UNTRIED, list(ids), reason)

    async def append_outcomes(self, conn: Connection, events: Sequence[OutcomeEvent]) -> list[bool]:
        rows = await conn.fetch(_STREAM_VERSIONS, [e.stream_id for e in events])
        versions = {r["stream_id"]: r["version"] for r in rows}
        prepared = [
            self._store.prepare_append(
                e.stream_id,
                versions.get(e.stream_id, 0),
                [NewEvent.from_payload(e.payload)],
                e.context,
            )
            for e in events
        ]
        return await self._store.write_prepared(conn, prepared)
