"""Dead letters kept in the consumer's own database, beside the dead-letter topic.

The dead-letter topic alone is not enough: the embedded broker forgets it when it restarts,
and every republish of a range would put the same poison message on it again. So each dead
letter is first written to `dead_letters` (one row per consumer and message: its event id, or
a digest of a body that could not be decoded); a message dead-lettered again counts up `times`
on its row, and only a new (or re-opened) dead letter is published to the topic.

An operator inspects them, and once the cause is fixed replays or discards them, with
`csm-<service> dead-letters list | show ID | replay ID… | discard ID… --reason TEXT`. Replaying
publishes the original message to its source topic again: the consumer that failed handles it
afresh, the others find its event id among what they processed and skip it. A message that
fails again is dead-lettered again (its row re-opened).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from .database import Connection

#: Headers the consumer adds when it dead-letters a message; a replay leaves them out.
DLQ_HEADER_PREFIX = "dlq_"


@dataclass(frozen=True)
class DeadLetter:
    """A message one consumer could not use, as kept in its database."""

    id: int
    consumer: str
    event_id: UUID | None
    event_type: str | None
    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    reason: str
    error: str
    attempts: int
    times: int
    first_at: Any
    last_at: Any
    status: str
    resolved_by: str | None
    resolution: str | None
    #: The consumer handled its event later after all (a replay or a redelivery worked).
    handled_since: bool


def fingerprint(headers: dict[str, str], value: bytes | None) -> str:
    """What identifies one message to one consumer, however often it is delivered: its event
    id, type and version as the headers give them, and a digest of its body."""
    digest = hashlib.sha256(value or b"").hexdigest()[:32]
    named = ":".join(headers.get(h, "") for h in ("ce_id", "ce_type", "ce_eventversion"))
    return f"{named}:{digest}"


def _text(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold U+0000, and a poison message may well carry it.
    return value.replace("\x00", "\ufffd")


async def record(
    conn: Connection,
    *,
    consumer: str,
    event_id: UUID | None,
    event_type: str | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: dict[str, str],
    reason: str,
    error: str,
    attempts: int,
) -> bool:
    """Keep one dead letter; True when it is new or was no longer pending (so it should be
    published to the dead-letter topic), False when the same message is already pending."""
    row = await conn.fetchrow(
        """
        INSERT INTO dead_letters AS d (consumer, fingerprint, event_id, event_type, source_topic,
                                       partition, "offset", key, value, headers, reason, error,
                                       attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13)
        ON CONFLICT (consumer, fingerprint) DO UPDATE SET
            times = d.times + 1, last_at = now(), reason = EXCLUDED.reason,
            error = EXCLUDED.error, attempts = EXCLUDED.attempts,
            source_topic = EXCLUDED.source_topic, partition = EXCLUDED.partition,
            "offset" = EXCLUDED."offset", status = 'pending', resolved_at = NULL,
            resolved_by = NULL, resolution = NULL
        RETURNING (xmax = 0) AS inserted,
                  (SELECT status FROM dead_letters WHERE id = d.id) AS previous_status
        """,
        consumer,
        fingerprint(headers, value),
        event_id,
        _text(event_type) if event_type else None,
        topic,
        partition,
        offset,
        key,
        value,
        json.dumps({_text(k): _text(v) for k, v in headers.items()}),
        _text(reason),
        _text(error)[:4000],
        attempts,
    )
    assert row is not None
    return bool(row["inserted"] or row["previous_status"] != "pending")


_SELECT = """
SELECT d.*, EXISTS (SELECT 1 FROM processed_messages p
                     WHERE p.consumer = d.consumer AND p.event_id = d.event_id) AS handled_since
  FROM dead_letters d
"""


def _dead_letter(row: asyncpg.Record) -> DeadLetter:
    return DeadLetter(
        id=row["id"],
        consumer=row["consumer"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        source_topic=row["source_topic"],
        partition=row["partition"],
        offset=row["offset"],
        key=row["key"],
        value=row["value"],
        headers=json.loads(row["headers"]),
        reason=row["reason"],
        error=row["error"],
        attempts=row["attempts"],
        times=row["times"],
        first_at=row["first_at"],
        last_at=row["last_at"],
        status=row["status"],
        resolved_by=row["resolved_by"],
        resolution=row["resolution"],
        handled_since=row["handled_since"],
    )


async def pending_count(pool: asyncpg.Pool) -> dict[str, int]:
    """Pending dead letters per consumer."""
    rows = await pool.fetch(
        "SELECT consumer, count(*) AS n FROM dead_letters WHERE status = 'pending' "
        "GROUP BY consumer"
    )
    return {r["consumer"]: r["n"] for r in rows}


async def list_dead_letters(pool: asyncpg.Pool, *, everything: bool = False) -> list[DeadLetter]:
    """The pending dead letters (or every one, with `everything`), oldest first."""
    where = "" if everything else " WHERE d.status = 'pending'"
    return [_dead_letter(r) for r in await pool.fetch(_SELECT + where + " ORDER BY d.id")]


async def get_dead_letters(pool: asyncpg.Pool, ids: Sequence[int]) -> list[DeadLetter]:
    """The dead letters with these ids (those that exist), in id order."""
    rows = await pool.fetch(_SELECT + " WHERE d.id = ANY($1::bigint[]) ORDER BY d.id", list(ids))
    return [_dead_letter(r) for r in rows]


async def resolve(
    pool: asyncpg.Pool, ids: Sequence[int], *, status: str, by: str, resolution: str
) -> int:
    """Mark pending dead letters replayed or discarded; how many changed."""
    if status not in ("replayed", "discarded"):
        raise ValueError(f"unknown resolution {status!r}")
    done = await pool.execute(
        "UPDATE dead_letters SET status = $2, resolved_at = now(), resolved_by = $3, "
        "resolution = $4 WHERE id = ANY($1::bigint[]) AND status = 'pending'",
        list(ids),
        status,
        _text(by),
        _text(resolution),
    )
    return int(done.split()[-1])


def original_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The message's own headers, without what dead-lettering added."""
    return [
        (k, v.encode()) for k, v in letter.headers.items() if not k.startswith(DLQ_HEADER_PREFIX)
    ]
