"""The emails to send, in PostgreSQL (`notifications`): recorded in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from csm_kernel.database import Connection

from ..domain.notification import Intent

_INSERT = """
INSERT INTO notifications (id, dedupe_key, kind, organisation_id, recipient, recipient_name,
                           context, caused_by, caused_by_type, next_attempt_at, created_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::jsonb[], $8::text[], $9::text[], $10::timestamptz[],
                     $10::timestamptz[])
ON CONFLICT (dedupe_key) DO NOTHING
"""


async def record(conn: Connection, intents: Sequence[Intent], now: datetime) -> int:
    """Record emails to send (an intent already recorded is left alone); how many are new."""
    if not intents:
        return 0
    status = await conn.execute(
        _INSERT,
        [i.id for i in intents],
        [i.dedupe_key for i in intents],
        [i.kind for i in intents],
        [i.organisation_id for i in intents],
        [i.recipient for i in intents],
        [i.recipient_name for i in intents],
        [json.dumps(i.context) for i in intents],
        [i.cause for i in intents],
        [i.caused_by_type for i in intents],
        [now for _ in intents],
    )
    return int(status.rsplit(" ", 1)[1])


class PostgresIntents:
    """`application.ports.Intents` over the `notifications` table."""

    async def record(self, conn: Connection, intents: Sequence[Intent], now: datetime) -> int:
        return await record(conn, intents, now)
