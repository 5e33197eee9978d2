"""Bulletins in PostgreSQL (`bulletins`), their recipients (`leads`, `organisations`) and what
became of their emails (`notifications`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from csm_kernel.database import Connection

from ..application.ports import BulletinDelivery, BulletinRecord
from ..domain.bulletins import Recipient

#: The leads a filter picks. An organisation row may lag its lead (they come from different
#: events), so with no region or kind filter a lead is picked without one.
_RECIPIENTS = """
SELECT l.organisation_id, l.email, l.name, COALESCE(o.name, l.organisation_id) AS org_name
FROM leads l
LEFT JOIN organisations o ON o.code = l.organisation_id
WHERE (cardinality($1::text[]) = 0 OR o.region = ANY($1))
  AND (cardinality($2::text[]) = 0 OR o.kind = ANY($2))
  AND (cardinality($3::text[]) = 0 OR l.organisation_id = ANY($3))
  AND ($4::text IS NULL OR NOT EXISTS (
        SELECT 1 FROM reminder_returns r
        WHERE r.cycle = $4 AND r.organisation_id = l.organisation_id
          AND r.signed_off_at IS NOT NULL))
ORDER BY l.organisation_id
"""

#: Serialises the bulletin schedulers of the service's replicas (the reminders' pattern): a
#: due bulletin is picked up by one run at a time. The row lock (`FOR UPDATE`) is what keeps
#: "send now" and "cancel" from the portal out of a run's way, and the run out of theirs.
_SCHEDULER_LOCK = 7_300_411

_ADD = """
INSERT INTO bulletins (id, subject, body, filter, recipients, created_at, created_by, status,
                       send_at, sent_at, sent_by)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11)
"""

_COLUMNS = """id, subject, body, filter, recipients, created_at, created_by, status, send_at,
sent_at, sent_by, cancelled_at, cancelled_by"""

#: `SKIP LOCKED`: a bulletin whose row a "send now" or "cancel" holds is theirs to settle.
_DUE = f"""
SELECT {_COLUMNS} FROM bulletins
WHERE status = 'scheduled' AND send_at <= $1
ORDER BY send_at, seq
FOR UPDATE SKIP LOCKED
"""

_LOCKED = f"SELECT {_COLUMNS} FROM bulletins WHERE id = $1 FOR UPDATE"

_MARK_SENT = """
UPDATE bulletins SET status = 'sent', recipients = $2, sent_at = $3, sent_by = $4
WHERE id = $1 AND status = 'scheduled'
"""

_MARK_CANCELLED = """
UPDATE bulletins SET status = 'cancelled', cancelled_at = $2, cancelled_by = $3
WHERE id = $1 AND status = 'scheduled'
"""

_WITH_DELIVERY = """
SELECT b.*,
       count(n.id) FILTER (WHERE n.status = 'pending') AS pending,
       count(n.id) FILTER (WHERE n.status = 'sent') AS sent,
       count(n.id) FILTER (WHERE n.status = 'failed') AS failed
FROM ({chosen}) b
LEFT JOIN notifications n
       ON n.kind = 'bulletin' AND n.caused_by = 'bulletin/' || b.id
GROUP BY b.id, b.subject, b.body, b.filter, b.recipients, b.created_at, b.created_by, b.seq,
         b.status, b.send_at, b.sent_at, b.sent_by, b.cancelled_at, b.cancelled_by
"""

#: Waiting ones first, soonest first; then the rest, newest first (`{b}`: the table's alias).
_ORDER = """({b}status = 'scheduled') DESC,
CASE WHEN {b}status = 'scheduled' THEN {b}send_at END ASC,
COALESCE({b}sent_at, {b}cancelled_at, {b}created_at) DESC, {b}seq DESC"""

_LATEST = (
    _WITH_DELIVERY.format(chosen=f"SELECT * FROM bulletins ORDER BY {_ORDER.format(b='')} LIMIT $1")
    + f"ORDER BY {_ORDER.format(b='b.')}"
)

_GET = _WITH_DELIVERY.format(chosen="SELECT * FROM bulletins WHERE id = $1")


def _record(r: asyncpg.Record) -> BulletinRecord:
    return BulletinRecord(
        id=r["id"],
        subject=r["subject"],
        body=r["body"],
        filter=json.loads(r["filter"]),
        recipients=r["recipients"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        status=r["status"],
        send_at=r["send_at"],
        sent_at=r["sent_at"],
        sent_by=r["sent_by"],
        cancelled_at=r["cancelled_at"],
        cancelled_by=r["cancelled_by"],
    )


def _delivery(r: asyncpg.Record) -> BulletinDelivery:
    return BulletinDelivery(_record(r), pending=r["pending"], sent=r["sent"], failed=r["failed"])


class PostgresBulletins:
    """`application.ports.BulletinStore` in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def scheduler_run(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEDULER_LOCK)
            yield conn

    async def known_organisations(self, conn: Connection, codes: Sequence[str]) -> list[str]:
        rows = await conn.fetch(
            "SELECT code FROM organisations WHERE code = ANY($1::text[])", list(codes)
        )
        return [r["code"] for r in rows]

    async def recipients(
        self,
        conn: Connection,
        regions: Sequence[str],
        kinds: Sequence[str],
        organisation_ids: Sequence[str],
        not_signed_off_in: str | None = None,
    ) -> list[Recipient]:
        rows = await conn.fetch(
            _RECIPIENTS, list(regions), list(kinds), list(organisation_ids), not_signed_off_in
        )
        return [Recipient(r["organisation_id"], r["email"], r["name"], r["org_name"]) for r in rows]

    async def add(self, conn: Connection, bulletin: BulletinRecord) -> None:
        await conn.execute(
            _ADD,
            bulletin.id,
            bulletin.subject,
            bulletin.body,
            json.dumps(bulletin.filter),
            bulletin.recipients,
            bulletin.created_at,
            bulletin.created_by,
            bulletin.status,
            bulletin.send_at,
            bulletin.sent_at,
            bulletin.sent_by,
        )

    async def locked(self, conn: Connection, bulletin_id: str) -> BulletinRecord | None:
        row = await conn.fetchrow(_LOCKED, bulletin_id)
        return _record(row) if row is not None else None

    async def due(self, conn: Connection, now: datetime) -> list[BulletinRecord]:
        return [_record(r) for r in await conn.fetch(_DUE, now)]

    async def mark_sent(
        self, conn: Connection, bulletin_id: str, recipients: int, at: datetime, by: str
    ) -> None:
        await conn.execute(_MARK_SENT, bulletin_id, recipients, at, by)

    async def mark_cancelled(
        self, conn: Connection, bulletin_id: str, at: datetime, by: str
    ) -> None:
        await conn.execute(_MARK_CANCELLED, bulletin_id, at, by)

    async def get(self, bulletin_id: str) -> BulletinDelivery | None:
        row = await self._pool.fetchrow(_GET, bulletin_id)
        return _delivery(row) if row is not None else None

    async def latest(self, limit: int) -> list[BulletinDelivery]:
        return [_delivery(r) for r in await self._pool.fetch(_LATEST, limit)]
