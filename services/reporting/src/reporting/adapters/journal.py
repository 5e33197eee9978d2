"""The journal: reporting's own copy of every event it has received, in arrival order.

Its `data` is `jsonb`, which cannot hold U+0000 (nor a lone surrogate); an event whose text
holds one (stored before the edge refused them, or sent by a service that does not) is kept
with those characters replaced by U+FFFD (`csm_kernel.text`), not dead-lettered: projections
and reports see the rest of it. Its `hash` then covers the original text, which the source
store keeps: `csm-reporting verify` (`application.verifying`) checks every other event's hash
against its stream's chain as received, and says so of such an event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from csm_contracts.envelope import EventEnvelope
from csm_kernel.database import Connection
from csm_kernel.text import scrub_text, storable_json

from ..application.ports import JournalledEvent

#: Serialises journal writers, so `seq` order is commit order (DESIGN §5: no gap that later fills).
JOURNAL_LOCK = 7300100
#: NOTIFY channel: a wake-up for projectors only; they always re-read from their checkpoint.
CHANNEL = "reporting_journal"

_INSERT = """
INSERT INTO journal (seq, event_id, type, version, occurred_at, key, stream_id, stream_version,
                     actor, correlation_id, data, prev_hash, hash, causation_id)
SELECT (SELECT coalesce(max(seq), 0) FROM journal) + row_number() OVER (ORDER BY ord),
       e, t, v, o, k, s, sv, a, c, d::jsonb, ph, h, ca
  FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::text[],
              $7::int[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
              $13::text[])
       WITH ORDINALITY AS u(e, t, v, o, k, s, sv, a, c, d, ph, h, ca, ord)
 WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.event_id = u.e)
"""


async def record(conn: Connection, envelopes: Sequence[EventEnvelope]) -> int:
    """Add events to the journal (those already there are skipped); how many were new.

    Must run inside the caller's transaction (the consumer's, with its tracking rows)."""
    # A topic may hold an event twice (at-least-once publishing): keep the first copy.
    firsts: dict[object, EventEnvelope] = {}
    for e in envelopes:
        firsts.setdefault(e.event_id, e)
    envelopes = list(firsts.values())
    if not envelopes:
        return 0
    await conn.execute("SELECT pg_advisory_xact_lock($1)", JOURNAL_LOCK)
    status = await conn.execute(
        _INSERT,
        [e.event_id for e in envelopes],
        [e.type for e in envelopes],
        [e.version for e in envelopes],
        [e.occurred_at for e in envelopes],
        [scrub_text(e.key) for e in envelopes],
        [scrub_text(e.stream_id) for e in envelopes],
        [e.stream_version for e in envelopes],
        [scrub_text(e.actor) for e in envelopes],
        [scrub_text(e.correlation_id) for e in envelopes],
        [storable_json(e.data) for e in envelopes],
        [e.prev_hash for e in envelopes],
        [e.hash for e in envelopes],
        [None if e.causation_id is None else scrub_text(e.causation_id) for e in envelopes],
    )
    added = int(status.split()[-1])
    if added:
        await conn.execute(f"NOTIFY {CHANNEL}")
    return added


async def record_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Add events given as plain rows (from a service's event store or a synthetic history)."""
    envelopes = [EventEnvelope.model_validate(row) for row in rows]
    return await record(conn, envelopes)


_RECEIVED = """
SELECT seq, event_id, type, version, occurred_at, key, stream_id, stream_version, actor,
       correlation_id, causation_id, data::text AS data, prev_hash, hash, causation_kept
  FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2
"""


async def head(conn: Connection) -> int:
    """The last journal position (0 when empty)."""
    return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM journal"))


class PostgresJournal:
    """The journal table (`application.ports.Journal` and `ReceivedEvents`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> int:
        """Add events in the caller's transaction; how many were new."""
        return await record(conn, envelopes)

    async def load(self, envelopes: Sequence[EventEnvelope]) -> int:
        """Add events in a transaction of its own; how many were new."""
        if not envelopes:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            return await record(conn, envelopes)

    async def head(self) -> int:
        """The last journal position (0 when empty)."""
        async with self.pool.acquire() as conn:
            return await head(conn)

    async def received(self, batch: int = 5000) -> AsyncIterator[JournalledEvent]:
        """Every journal event as received, in journal order, a page at a time."""
        after = 0
        while True:
            rows = await self.pool.fetch(_RECEIVED, after, batch)
            for r in rows:
                yield JournalledEvent(
                    EventEnvelope.trusted(
                        event_id=r["event_id"],
                        type=r["type"],
                        version=r["version"],
                        occurred_at=r["occurred_at"],
                        stream_id=r["stream_id"],
                        stream_version=r["stream_version"],
                        key=r["key"],
                        correlation_id=r["correlation_id"],
                        causation_id=r["causation_id"],
                        actor=r["actor"],
                        data=json.loads(r["data"]),
                        prev_hash=r["prev_hash"],
                        hash=r["hash"],
                        position=r["seq"],
                    ),
                    causation_kept=r["causation_kept"],
                )
            if len(rows) < batch:
                return
            after = rows[-1]["seq"]
