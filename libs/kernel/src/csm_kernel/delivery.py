"""Consumers prove they missed nothing: store positions received, gaps found, ranges asked for.

Every event a relay publishes carries its position in the producing service's store
(`ce_position`), and those positions have no gaps (DESIGN section 5). So a consumer of a
service's event topic must, in the end, have received every position: one that stays missing
while later positions have arrived, for longer than the delivery delay, was lost (a broker that
restarted empty, a truncated partition, an unclean leader election). The consumer counts and
logs it, and asks the producer to publish the range again (`RepublishRequest` on
`Topics.REPUBLISH_REQUESTS`), again after each delay until the hole closes.

What a consumer has received is recorded in its own database (`consumer_positions`, with the
out-of-order arrivals in `consumer_positions_ahead`), in the same transaction as the effect
where there is one. Messages that need no transaction of their own (an event type the consumer
ignores) are remembered and written with the next transaction or by the watchdog: if the
process dies first, the hole they leave is found and filled like any other.

With several members in a group, each member judges only while its own partitions are caught
up; a range asked for while a sibling is still behind on it comes twice, which is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from csm_contracts.control import PositionRange, RepublishRequest

from .database import Connection
from .observability import get_logger

log = get_logger(__name__)

Received = tuple[str, str, int, int]
"""(topic, producing service, store position, position of the stored event before it) of one
delivered message: it covers the positions after the one before, up to its own."""


@dataclass(frozen=True)
class Gap:
    """Positions after `after` up to `up_to` of `topic` never arrived, though later ones did
    (`up_to` is a stored event: a message that did arrive names it as the one before it)."""

    topic: str
    producer: str
    after: int
    up_to: int
    #: Seconds since the first position above the hole arrived.
    open_for: float
    #: Seconds since it was last asked for (None: never).
    since_asked: float | None = None

    @property
    def size(self) -> int:
        """How many positions are missing."""
        return self.up_to - self.after


_GAPS = """
SELECT topic, producer, after, prev AS up_to,
       extract(epoch FROM now() - first_above)::float8 AS open_for,
       (SELECT extract(epoch FROM now() - max(g.requested_at))::float8 FROM consumer_gaps g
         WHERE g.consumer = $1 AND g.topic = s.topic AND g.healed_at IS NULL
           AND g.first_missing <= s.prev AND g.last_missing > s.after) AS since_asked
  FROM (SELECT a.topic, c.producer, a.position, a.prev,
               greatest(coalesce(lag(a.position) OVER w, 0), c.contiguous) AS after,
               min(a.received_at) OVER (PARTITION BY a.topic ORDER BY a.position DESC)
                   AS first_above
          FROM consumer_positions_ahead a
          JOIN consumer_positions c USING (consumer, topic)
         WHERE a.consumer = $1
        WINDOW w AS (PARTITION BY a.topic ORDER BY a.position)) s
 WHERE prev > after
 ORDER BY topic, after
"""


class DeliveryTracker:
    """Which store positions one consumer has received, and which are missing."""

    def __init__(self, consumer: str, pool: asyncpg.Pool, *, delivery_delay: float = 30.0):
        self.consumer = consumer
        self.pool = pool
        self.delivery_delay = delivery_delay
        #: Positions delivered with no transaction of their own, not yet written.
        self._unwritten: list[Received] = []
        #: Losses found since the process started (each range once, however often asked).
        self.gaps_detected = 0
        self.positions_missing = 0

    def remember(self, received: Iterable[Received]) -> None:
        """Note positions delivered outside any transaction, to be written later."""
        self._unwritten.extend(received)

    async def record(self, conn: Connection, received: Sequence[Received]) -> None:
        """Write delivered positions (plus any remembered ones) in the caller's transaction;
        call it last in that transaction (it takes a row lock per topic until commit)."""
        pending, self._unwritten = self._unwritten, []
        try:
            await _write(conn, self.consumer, [*pending, *received])
        except BaseException:
            self._unwritten = pending + self._unwritten
            raise

    async def flush(self) -> None:
        """Write the remembered positions in a transaction of their own."""
        if not self._unwritten:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await self.record(conn, ())

    async def gaps(self) -> list[Gap]:
        """Every hole below a position that did arrive, however young."""
        rows = await self.pool.fetch(_GAPS, self.consumer)
        return [
            Gap(r["topic"], r["producer"], r["after"], r["up_to"], r["open_for"], r["since_asked"])
            for r in rows
        ]

    async def losses(self) -> list[Gap]:
        """Holes open longer than the delivery delay and not asked for within it: what to ask
        for (again). Records each in `consumer_gaps` (a new loss, or one more request for a
        known one) and marks the losses that have closed since as healed."""
        current = await self.gaps()
        lost = [
            g
            for g in current
            if g.open_for >= self.delivery_delay
            and (g.since_asked is None or g.since_asked >= self.delivery_delay)
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            open_rows = await conn.fetch(
                "SELECT topic, first_missing, last_missing, detected_at FROM consumer_gaps "
                "WHERE consumer = $1 AND healed_at IS NULL FOR UPDATE",
                self.consumer,
            )
            for row in open_rows:
                if not any(_overlap(row, g) for g in current):
                    healed_after = await conn.fetchval(
                        "UPDATE consumer_gaps SET healed_at = now() WHERE consumer = $1 AND "
                        "topic = $2 AND first_missing = $3 AND detected_at = $4 "
                        "RETURNING extract(epoch FROM now() - detected_at)::float8",
                        self.consumer,
                        row["topic"],
                        row["first_missing"],
                        row["detected_at"],
                    )
                    log.info(
                        "missing events arrived",
                        consumer=self.consumer,
                        topic=row["topic"],
                        first=row["first_missing"],
                        last=row["last_missing"],
                        healed_after_seconds=round(healed_after, 3),
                    )
            for gap in lost:
                known = next((r for r in open_rows if _overlap(r, gap)), None)
                if known is None:
                    self.gaps_detected += 1
                    self.positions_missing += gap.size
                    await conn.execute(
                        "INSERT INTO consumer_gaps (consumer, topic, first_missing, last_missing)"
                        " VALUES ($1, $2, $3, $4)",
                        self.consumer,
                        gap.topic,
                        gap.after + 1,
                        gap.up_to,
                    )
                    log.warning(
                        "events missing; asking their producer to publish them again",
                        consumer=self.consumer,
                        topic=gap.topic,
                        producer=gap.producer,
                        first=gap.after + 1,
                        last=gap.up_to,
                        missing=gap.size,
                        open_for_seconds=round(gap.open_for, 3),
                    )
                else:
                    await conn.execute(
                        "UPDATE consumer_gaps SET requests = requests + 1, requested_at = now(),"
                        " last_missing = greatest(last_missing, $5) WHERE consumer = $1 AND "
                        "topic = $2 AND first_missing = $3 AND detected_at = $4",
                        self.consumer,
                        known["topic"],
                        known["first_missing"],
                        known["detected_at"],
                        gap.up_to,
                    )
        return lost

    def requests(self, lost: Sequence[Gap], now: datetime) -> list[RepublishRequest]:
        """One republish request per producer for the given losses."""
        by_producer: dict[str, list[PositionRange]] = {}
        for gap in lost:
            by_producer.setdefault(gap.producer, []).append(
                PositionRange(after=gap.after, up_to=gap.up_to)
            )
        return [
            RepublishRequest(
                source=producer, ranges=ranges[:100], consumer=self.consumer, requested_at=now
            )
            for producer, ranges in by_producer.items()
        ]

    async def contiguous(self, topic: str) -> int:
        """Every position of `topic` up to this one has been received."""
        value = await self.pool.fetchval(
            "SELECT contiguous FROM consumer_positions WHERE consumer = $1 AND topic = $2",
            self.consumer,
            topic,
        )
        return int(value or 0)


async def _write(conn: Connection, consumer: str, received: Sequence[Received]) -> None:
    by_topic: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for topic, producer, position, before in received:
        positions, befores = by_topic.setdefault((topic, producer), ([], []))
        positions.append(position)
        befores.append(before)
    # One lock order for every writer: topics sorted.
    for (topic, producer), (positions, befores) in sorted(by_topic.items()):
        await conn.execute(
            "SELECT csm_record_positions($1, $2, $3, $4, $5)",
            consumer,
            topic,
            producer,
            positions,
            befores,
        )


def _overlap(row: asyncpg.Record, gap: Gap) -> bool:
    return bool(
        row["topic"] == gap.topic
        and row["first_missing"] <= gap.up_to
        and gap.after + 1 <= row["last_missing"]
    )
