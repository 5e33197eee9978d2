"""Tracking that does not grow for ever: which messages a consumer has handled, in bounded space.

A consumer records `(consumer, event_id)` in `processed_messages` in the transaction of each
effect, so a redelivery has none. Kept for ever, that table grows by a row per event per
consumer. So each row also names the store position it stood for, and `prune` deletes rows that
are both older than the de-duplication window and under the consumer's contiguous prefix
(`csm_kernel.delivery`: every position up to it was delivered), raising a per-topic mark,
`processed_pruned.up_to`, as it goes. A redelivery at or below the mark is known handled
without its row, so it is still a duplicate however old it is; the one exception is a message
still pending as a dead letter, which was never handled and still wants to be.

Rows go in two steps so that no statement can miss both the row and the mark: a pass first
deletes rows under a mark raised at least `settle` seconds ago (every insert since has seen
it), then raises the mark. Rows written before positions were recorded (no `position`) are
left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from .database import Connection

#: Is this redelivery known handled by the mark? (`$1` consumer, then the message's
#: event id, topic and position as `e`, `tp`, `p`.)
_UNDER_THE_MARK = """
EXISTS (SELECT 1 FROM processed_pruned w
         WHERE w.consumer = $1 AND w.topic = tp AND p <= w.up_to
           AND NOT EXISTS (SELECT 1 FROM dead_letters d
                            WHERE d.consumer = $1 AND d.event_id = e AND d.status = 'pending'))
"""

_INSERT_ONE = f"""
INSERT INTO processed_messages (consumer, event_id, event_type, topic, position)
SELECT $1, e, t, tp, p FROM (VALUES ($2::uuid, $3::text, $4::text, $5::bigint)) AS u(e, t, tp, p)
 WHERE NOT {_UNDER_THE_MARK}
ON CONFLICT DO NOTHING RETURNING true
"""

_INSERT_MANY = f"""
INSERT INTO processed_messages (consumer, event_id, event_type, topic, position)
SELECT $1, e, t, tp, p FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[])
    AS u(e, t, tp, p)
 WHERE NOT {_UNDER_THE_MARK}
ON CONFLICT DO NOTHING RETURNING event_id
"""


@dataclass(frozen=True)
class Tracked:
    """One message as the tracking table records it."""

    event_id: UUID
    event_type: str
    #: The topic and store position, when the topic's positions are tracked.
    topic: str | None = None
    position: int | None = None


async def first_time(conn: Connection, consumer: str, message: Tracked) -> bool:
    """Record a message as handled; False if it was handled before (a duplicate)."""
    inserted = await conn.fetchval(
        _INSERT_ONE,
        consumer,
        message.event_id,
        message.event_type,
        message.topic,
        message.position,
    )
    return bool(inserted)


async def first_times(conn: Connection, consumer: str, messages: Sequence[Tracked]) -> set[UUID]:
    """Record messages as handled; the event ids seen for the first time."""
    rows = await conn.fetch(
        _INSERT_MANY,
        consumer,
        [m.event_id for m in messages],
        [m.event_type for m in messages],
        [m.topic for m in messages],
        [m.position for m in messages],
    )
    return {row["event_id"] for row in rows}


_DELETE = """
WITH gone AS (
    DELETE FROM processed_messages p USING processed_pruned w
     WHERE p.consumer = $1 AND w.consumer = $1 AND p.topic = w.topic
       AND p.position <= w.up_to AND w.raised_at < now() - make_interval(secs => $2)
       AND p.processed_at < now() - make_interval(secs => $3)
    RETURNING p.topic
), counted AS (SELECT topic, count(*) AS n FROM gone GROUP BY topic)
UPDATE processed_pruned w SET rows_pruned = w.rows_pruned + c.n, pruned_at = now()
  FROM counted c WHERE w.consumer = $1 AND w.topic = c.topic
RETURNING c.n
"""

_RAISE = """
INSERT INTO processed_pruned AS w (consumer, topic, up_to)
SELECT c.consumer, c.topic,
       least(c.contiguous,
             coalesce((SELECT min(p.position) - 1 FROM processed_messages p
                        WHERE p.consumer = c.consumer AND p.topic = c.topic
                          AND p.position IS NOT NULL
                          AND p.processed_at >= now() - make_interval(secs => $2)),
                      c.contiguous))
  FROM consumer_positions c WHERE c.consumer = $1
ON CONFLICT (consumer, topic) DO UPDATE SET up_to = EXCLUDED.up_to, raised_at = now()
 WHERE EXCLUDED.up_to > w.up_to
"""


async def prune(pool: asyncpg.Pool, consumer: str, window: float, settle: float = 60.0) -> int:
    """One pruning pass for `consumer` (see the module's docstring): rows older than `window`
    seconds under a mark at least `settle` seconds old are deleted, then the marks rise.
    Returns how many rows were deleted."""
    async with pool.acquire() as conn, conn.transaction():
        deleted = sum(int(row["n"]) for row in await conn.fetch(_DELETE, consumer, settle, window))
    await pool.execute(_RAISE, consumer, window)
    return deleted
