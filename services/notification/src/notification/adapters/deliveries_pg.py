"""The delivery log over PostgreSQL's `notifications` (never its `context` column)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from csm_kernel.database import Connection

from ..application.ports import Delivery, DeliveryFilter, KindCount

_COLUMNS = """id, kind, organisation_id, recipient, recipient_name, status, attempts,
    next_attempt_at, last_error, smtp_code, subject, created_at, sent_at, caused_by,
    caused_by_type"""

_WHERE = """($1::text IS NULL OR organisation_id = $1)
  AND ($2::text IS NULL OR kind = $2)
  AND ($3::text IS NULL OR status = $3)
  AND ($4::text IS NULL OR lower(recipient) = lower($4))
  AND ($5::text IS NULL OR caused_by = $5)
  AND ($6::timestamptz IS NULL OR created_at >= $6)"""

_PAGE = f"""
SELECT {_COLUMNS} FROM notifications
WHERE {_WHERE}
  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::text))
ORDER BY created_at DESC, id DESC
LIMIT $9
"""

#: Going back: the oldest rows newer than the cursor (the adapter turns them newest first).
_PAGE_BACK = f"""
SELECT {_COLUMNS} FROM notifications
WHERE {_WHERE}
  AND (created_at, id) > ($7::timestamptz, $8::text)
ORDER BY created_at, id
LIMIT $9
"""

_FILTERS = """($1::text IS NULL OR organisation_id = $1)
    AND ($2::timestamptz IS NULL OR created_at >= $2)"""


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(**{k: row[k] for k in row.keys()})  # noqa: SIM118 (a Record is not a dict)


class PostgresDeliveryLog:
    """`application.ports.DeliveryLog` in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(
        self,
        where: DeliveryFilter,
        before: tuple[datetime, str] | None,
        limit: int,
        *,
        after: tuple[datetime, str] | None = None,
    ) -> list[Delivery]:
        at, nid = after or before or (None, None)
        rows = await self._pool.fetch(
            _PAGE_BACK if after else _PAGE,
            where.organisation_id,
            where.kind,
            where.status,
            where.recipient,
            where.caused_by,
            where.since,
            at,
            nid,
            limit,
        )
        found = [_delivery(r) for r in rows]
        return found[::-1] if after else found

    async def counts(self, organisation_id: str | None, since: datetime | None) -> list[KindCount]:
        rows = await self._pool.fetch(
            f"SELECT kind, status, count(*) AS count FROM notifications WHERE {_FILTERS} "
            "GROUP BY kind, status ORDER BY kind, status",
            organisation_id,
            since,
        )
        return [KindCount(r["kind"], r["status"], r["count"]) for r in rows]

    async def failed(
        self, organisation_id: str | None, since: datetime | None, limit: int
    ) -> list[Delivery]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM notifications WHERE {_FILTERS} AND status = 'failed' "
            "ORDER BY created_at DESC, id DESC LIMIT $3",
            organisation_id,
            since,
            limit,
        )
        return [_delivery(r) for r in rows]

    async def retrying(self, organisation_id: str | None, since: datetime | None) -> int:
        count = await self._pool.fetchval(
            f"SELECT count(*) FROM notifications WHERE {_FILTERS} AND status = 'pending' "
            "AND last_error IS NOT NULL",
            organisation_id,
            since,
        )
        return int(count)

    async def get(self, notification_id: str) -> Delivery | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM notifications WHERE id = $1", notification_id
        )
        return _delivery(row) if row is not None else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def status_for_update(self, conn: Connection, notification_id: str) -> str | None:
        status = await conn.fetchval(
            "SELECT status FROM notifications WHERE id = $1 FOR UPDATE", notification_id
        )
        return str(status) if status is not None else None

    async def requeue(self, conn: Connection, notification_id: str, now: datetime) -> Delivery:
        row = await conn.fetchrow(
            f"UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = $2 "
            f"WHERE id = $1 RETURNING {_COLUMNS}",
            notification_id,
            now,
        )
        assert row is not None
        return _delivery(row)
