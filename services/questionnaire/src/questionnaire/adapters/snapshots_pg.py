"""The `questionnaires` rows as a snapshot cache of the streams, refreshed in batches.

A row holds a questionnaire's state at some version of its stream; every reader adds the
events after that version (the tail, read in the same statement), so a row that lags is only
slower to read, never wrong. That is what lets a save be a bare append, committed with other
saves by the store's group commit, instead of a transaction of its own (about 450 durable
commits/s on the benchmark VM: issue #4).

States known to be committed (after a save's append returned, or rebuilt by a load with a
tail) are remembered and written together every `interval` seconds, one statement and one
commit for all of them. `WHERE version < new` keeps a row from going back when writers race
(several processes, a slow batch). Losing a batch (a crash) loses nothing but speed.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import orjson

from csm_kernel.health import LoopMonitor
from csm_kernel.observability import get_logger

from ..domain.questionnaire import Questionnaire

log = get_logger(__name__)

_REFRESH = """
UPDATE questionnaires q
   SET version = u.version, status = u.status, answers = u.answers::jsonb,
       delegation = u.delegation::jsonb, submitted_at = u.submitted_at,
       submitted_by = u.submitted_by, locked = u.locked, updated_at = now()
  FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
              $7::text[], $8::bool[])
       AS u(id, version, status, answers, delegation, submitted_at, submitted_by, locked)
 WHERE q.id = u.id AND q.version < u.version
"""


class Snapshots:
    """Remembers the newest committed state of each questionnaire and writes them in batches."""

    def __init__(self, pool: asyncpg.Pool, interval: float = 0.25, max_batch: int = 1000) -> None:
        self.pool = pool
        self.interval = interval
        self.max_batch = max_batch
        self._pending: dict[str, Questionnaire] = {}

    def remember(self, q: Questionnaire) -> None:
        """`q` must be committed: a row must never show what the store lacks."""
        known = self._pending.get(q.id)
        if known is None or known.version < q.version:
            self._pending[q.id] = q

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write what is remembered; how many rows moved."""
        written = 0
        while self._pending:
            ids = sorted(self._pending)[: self.max_batch]  # one lock order for every writer
            batch = [self._pending.pop(i) for i in ids]
            try:
                status = await self.pool.execute(_REFRESH, *_columns(batch))
            except Exception:
                # Put them back unless something newer arrived meanwhile; retried next time.
                for q in batch:
                    self.remember(q)
                raise
            written += int(status.split()[-1])
        return written

    async def run(self, stop: asyncio.Event, monitor: LoopMonitor | None = None) -> None:
        """Flush every `interval` until `stop`, then once more."""
        monitor = monitor or LoopMonitor("snapshot-writer")
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            try:
                await self.flush()
                monitor.beat()
            except Exception as exc:  # the database is away or a deadlock: next time
                monitor.failed(exc)
                log.warning("questionnaire snapshots not written; will retry", error=str(exc))


def _columns(batch: list[Questionnaire]) -> list[list[object]]:
    return [
        [q.id for q in batch],
        [q.version for q in batch],
        [q.status.value for q in batch],
        [orjson.dumps(q.answers).decode() for q in batch],
        [orjson.dumps(q.delegation.as_json()).decode() if q.delegation else None for q in batch],
        [q.submitted_at for q in batch],
        [q.submitted_by for q in batch],
        [q.locked for q in batch],
    ]
