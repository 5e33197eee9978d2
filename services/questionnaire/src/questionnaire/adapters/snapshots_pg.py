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

A row PostgreSQL refuses fails its whole batch: the batch is then written row by row, and a row
that keeps failing for a reason of its own (not a lost connection, a deadlock: those are
retried) is set aside after a few tries, logged and counted (`poison.skipped`), at that
version: its readers keep adding the tail, and the others are written. Answers go in as
`storable_json` (NUL as U+FFFD, integers of any size): events stored before the edge refused
such values were retried four times a second, forever, holding every other row of the batch.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from opentelemetry.trace import TracerProvider

from csm_kernel.health import LoopMonitor
from csm_kernel.observability import get_logger, traced_work
from csm_kernel.poison import PoisonItems, is_transient
from csm_kernel.text import scrub_text, storable_json

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

    def __init__(
        self,
        pool: asyncpg.Pool,
        interval: float = 0.25,
        max_batch: int = 1000,
        attempts: int = 3,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.pool = pool
        self.interval = interval
        self.max_batch = max_batch
        #: Where a pass that writes rows is traced (the global provider unless given).
        self.tracer_provider = tracer_provider
        self.poison = PoisonItems("questionnaire snapshots", attempts)
        self._pending: dict[str, Questionnaire] = {}
        #: Rows set aside, with the version that could not be written: not tried again.
        self._set_aside: dict[str, int] = {}

    def remember(self, q: Questionnaire) -> None:
        """`q` must be committed: a row must never show what the store lacks."""
        known = self._pending.get(q.id)
        if known is not None and known.version >= q.version:
            return
        if self._set_aside and self._set_aside.get(q.id, 0) >= q.version:
            return
        self._pending[q.id] = q

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write what is remembered; how many rows moved. A row that fails is tried again at
        the next flush, not in this one."""
        todo, self._pending = self._pending, {}
        ids = sorted(todo)  # one lock order for every writer
        written = 0
        for start in range(0, len(ids), self.max_batch):
            batch = [todo[i] for i in ids[start : start + self.max_batch]]
            try:
                status = await self.pool.execute(_REFRESH, *_columns(batch))
            except Exception as exc:
                if is_transient(exc):
                    # Unless something newer arrived meanwhile; next time.
                    self._put_back([todo[i] for i in ids[start:]])
                    raise
                written += await self._row_by_row(batch, [todo[i] for i in ids[start:]])
                continue
            written += int(status.split()[-1])
        return written

    async def _row_by_row(self, batch: list[Questionnaire], rest: list[Questionnaire]) -> int:
        """Write a batch that failed one row at a time, so only the bad row is left out
        (`rest`: this batch and those after it, put back if the database goes away)."""
        written = 0
        for i, q in enumerate(batch):
            try:
                status = await self.pool.execute(_REFRESH, *_columns([q]))
            except Exception as exc:
                if is_transient(exc):
                    self._put_back(rest[i:])
                    raise
                if self.poison.failed(q.id, exc):
                    self._set_aside[q.id] = q.version
                else:
                    self.remember(q)  # tried again at the next flush
                continue
            self.poison.succeeded(q.id)
            written += int(status.split()[-1])
        return written

    def _put_back(self, batch: list[Questionnaire]) -> None:
        for q in batch:
            self.remember(q)

    async def run(self, stop: asyncio.Event, monitor: LoopMonitor | None = None) -> None:
        """Flush every `interval` until `stop`, then once more. A pass with rows to write is
        traced (`snapshot-writer`, its statements inside); an idle one makes no span."""
        monitor = monitor or LoopMonitor("snapshot-writer")
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            try:
                if self._pending:
                    with traced_work(
                        "snapshot-writer",
                        self.tracer_provider,
                        **{"csm.snapshots.pending": len(self._pending)},
                    ):
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
        [storable_json(q.answers) for q in batch],
        [storable_json(q.delegation.as_json()) if q.delegation else None for q in batch],
        [q.submitted_at for q in batch],
        [scrub_text(q.submitted_by) if q.submitted_by else None for q in batch],
        [q.locked for q in batch],
    ]
