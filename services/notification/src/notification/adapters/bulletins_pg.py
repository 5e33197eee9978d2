"""Bulletins in PostgreSQL (`bulletins`), their recipients (`leads`, `organisations`) and what
became of their emails (`notifications`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

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

_ADD = """
INSERT INTO bulletins (id, subject, body, filter, recipients, created_at, created_by)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
"""

_LATEST = """
SELECT b.*,
       count(n.id) FILTER (WHERE n.status = 'pending') AS pending,
       count(n.id) FILTER (WHERE n.status = 'sent') AS sent,
       count(n.id) FILTER (WHERE n.status = 'failed') AS failed
FROM (SELECT * FROM bulletins ORDER BY created_at DESC, seq DESC LIMIT $1) b
LEFT JOIN notifications n
       ON n.kind = 'bulletin' AND n.caused_by = 'bulletin/' || b.id
GROUP BY b.id, b.subject, b.body, b.filter, b.recipients, b.created_at, b.created_by, b.seq
ORDER BY b.created_at DESC, b.seq DESC
"""


class PostgresBulletins:
    """`application.ports.BulletinStore` in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
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
        )

    async def latest(self, limit: int) -> list[BulletinDelivery]:
        rows = await self._pool.fetch(_LATEST, limit)
        return [
            BulletinDelivery(
                BulletinRecord(
                    id=r["id"],
                    subject=r["subject"],
                    body=r["body"],
                    filter=json.loads(r["filter"]),
                    recipients=r["recipients"],
                    created_at=r["created_at"],
                    created_by=r["created_by"],
                ),
                pending=r["pending"],
                sent=r["sent"],
                failed=r["failed"],
            )
            for r in rows
        ]
