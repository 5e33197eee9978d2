"""Applies the journal to projections: live (a few events at a time), and rebuilt beside the
live tables then swapped in, so reports never go down while a projection is rebuilt.

A live batch that a projection's statements refuse for a reason of the data (a value its
tables cannot hold; not a lost connection or a deadlock, which are retried) is applied again
one position at a time, up to the position that fails. That projection waits there (the others
go on) and tries it again on later passes; after `attempts` passes the position is set aside
for that projection, logged with its event and counted (`poison.skipped`), and the projection
goes on after it. A rebuild meets the same position and fails loudly: fix the projection (or
the event's producer) and rebuild. Before this, one such event held its projection, and every
projection after it, for ever."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from csm_kernel.database import Connection
from csm_kernel.health import LoopMonitor
from csm_kernel.observability import get_logger, traced_work
from csm_kernel.poison import PoisonItems, is_transient

from ..application.projection import AlreadyRebuilding, Lag, Progress, Projection
from .journal import CHANNEL

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = get_logger(__name__)

#: Advisory-lock class for "applying to or swapping projection X" (the second key is its hash).
APPLY_LOCK = 7300101
#: Advisory-lock class for "rebuilding projection X" (session-level: one rebuild at a time).
REBUILD_LOCK = 7300102


def search_path(*schemas: str) -> str:
    """The search path that resolves unqualified names in `schemas`, then public."""
    return ", ".join([*schemas, "public"])


async def set_path(conn: Connection, *schemas: str) -> None:
    """Point unqualified names at `schemas` (then public) until the transaction ends."""
    await conn.execute(f"SET LOCAL search_path = {search_path(*schemas)}")


async def apply_range(
    conn: Connection, projection: Projection, schema: str, lo: int, hi: int, *journal: str
) -> None:
    """Apply journal positions (lo, hi] to `projection`'s tables in `schema`, in the caller's
    transaction. `journal` names a schema whose `journal` view replaces the real one."""
    await set_path(conn, schema, *journal)
    for statement in projection.statements:
        await conn.execute(statement, lo, hi)


#: Journal positions per rebuild transaction. Each range joins its events to the tables built
#: so far, and part of that cost grows with the tables rather than the range, so fewer, larger
#: ranges rebuild faster: at national scale (~890,000 events) the responses projection took
#: 12.2-13.9 s in ranges of 50,000, 10.7-11.7 s in 200,000 and 7.5-8.4 s in one range; 250,000
#: still moves the progress bar every few seconds.
REBUILD_CHUNK = 250_000
#: Projections rebuilt at once. One rebuild leaves its core idle while it commits and waits on
#: WAL and I/O; three kept this 2-core machine 1.86 cores busy against 1.6 for two, and the
#: whole rebuild took ~10 % less.
REBUILD_PARALLEL = 3

#: Memory for a bulk transaction's sorts and hashes: rebuild ranges group tens of thousands of
#: events, which would otherwise spill to disk at PostgreSQL's default of 4 MB.
BULK_WORK_MEM = "256MB"
#: A range's statements each read one or two event types out of the journal range. At the
#: default cost of 4 the planner scans the whole range by position and filters (reading four
#: rows for each it keeps) rather than take those types' rows from the (type, seq) index, whose
#: entries are in the table's order anyway; the journal a rebuild reads is mostly in memory.
#: A full rebuild took ~10 % less (22.6-23.7 s against 25.6-26.0 s, alternated).
BULK_RANDOM_PAGE_COST = 1.1


async def create_tables(
    conn: Connection, projection: Projection, schema: str, *, indexes: bool = True
) -> None:
    """An empty copy of `projection`'s tables in a new `schema` (in the caller's transaction);
    without its plain indexes when `indexes` is False (a bulk load adds them at the end)."""
    await conn.execute(f"CREATE SCHEMA {schema}")
    await set_path(conn, schema)
    for statement in projection.tables_ddl:
        await conn.execute(statement)
    if indexes:
        await create_indexes(conn, projection, schema)


async def create_indexes(conn: Connection, projection: Projection, schema: str) -> None:
    """The projection's plain indexes on its tables in `schema`."""
    await set_path(conn, schema)
    for statement in projection.indexes_ddl:
        await conn.execute(statement)


async def bulk_mode(conn: Connection) -> None:
    """Settings for one big transaction that nobody waits on (a rebuild range, an as-at)."""
    await conn.execute(
        f"SET LOCAL work_mem = '{BULK_WORK_MEM}';"
        f" SET LOCAL random_page_cost = {BULK_RANDOM_PAGE_COST}"
    )


class Projector:
    """Keeps every projection's live tables up to date with the journal."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        projections: Sequence[Projection],
        *,
        batch: int = 5_000,
        idle_seconds: float = 0.5,
        attempts: int = 5,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.pool = pool
        #: Where a live pass that found work is traced (the process's provider when None).
        self.tracer_provider = tracer_provider
        #: (projection, journal position) pairs that failed; those given up are skipped.
        self.poison = PoisonItems("reporting projector", attempts)
        self.projections = {p.name: p for p in projections}
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.rebuilding: set[str] = set()
        #: The latest progress of each rebuild this process ran or runs.
        self.progress: dict[str, Progress] = {}
        self._wake = asyncio.Event()

    # --- live -----------------------------------------------------------------------------

    async def prepare(self) -> list[Projection]:
        """Create missing projections (empty, to be filled live) and return those whose code
        changed since their tables were built: they must be rebuilt before they go live."""
        stale = []
        async with self.pool.acquire() as conn:
            for p in self.projections.values():
                async with conn.transaction():
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock($1, hashtext($2))", APPLY_LOCK, p.name
                    )
                    fingerprint = await conn.fetchval(
                        "SELECT fingerprint FROM projection_checkpoints WHERE projection = $1",
                        p.name,
                    )
                    exists = await conn.fetchval(
                        "SELECT true FROM pg_namespace WHERE nspname = $1", p.schema
                    )
                    if fingerprint is None or not exists:
                        await conn.execute(f"DROP SCHEMA IF EXISTS {p.schema} CASCADE")
                        await create_tables(conn, p, p.schema)
                        await conn.execute(
                            "INSERT INTO projection_checkpoints (projection, position, fingerprint)"
                            " VALUES ($1, 0, $2) ON CONFLICT (projection) DO UPDATE"
                            " SET position = 0, fingerprint = $2, built_at = now()",
                            p.name,
                            p.fingerprint,
                        )
                    elif fingerprint != p.fingerprint:
                        stale.append(p)
        return stale

    async def _live_position(self, conn: Connection, projection: Projection) -> int | None:
        """Take the projection's apply lock (until the transaction ends) and read how far it
        is; None while it is being rebuilt (its fingerprint is not the live one)."""
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", APPLY_LOCK, projection.name
        )
        row = await conn.fetchrow(
            "SELECT position, fingerprint FROM projection_checkpoints WHERE projection = $1",
            projection.name,
        )
        if row is None or row["fingerprint"] != projection.fingerprint:
            return None
        return int(row["position"])

    async def catch_up(self, projection: Projection) -> int:
        """Apply up to one batch of new journal events; how many positions it moved."""
        async with self.pool.acquire() as conn, conn.transaction():
            lo = await self._live_position(conn, projection)
            if lo is None:
                return 0  # being rebuilt: its old tables stay as they are until the swap
            hi = await conn.fetchval(
                "SELECT max(seq) FROM (SELECT seq FROM journal WHERE seq > $1 ORDER BY seq"
                " LIMIT $2) s",
                lo,
                self.batch,
            )
            if hi is None:
                return 0
            await apply_range(conn, projection, projection.schema, lo, hi)
            await conn.execute(
                "UPDATE projection_checkpoints SET position = $2, updated_at = now()"
                " WHERE projection = $1",
                projection.name,
                hi,
            )
            return int(hi - lo)

    async def behind(self) -> list[str]:
        """The live projections whose checkpoint is short of the journal's head: one cheap
        query, run with no span around it (an idle poll leaves no trace)."""
        rows = await self.pool.fetch(
            "SELECT c.projection, c.fingerprint FROM projection_checkpoints c"
            " WHERE c.projection = ANY($1::text[])"
            " AND c.position < (SELECT coalesce(max(seq), 0) FROM journal)",
            list(self.projections),
        )
        return [
            r["projection"]
            for r in rows
            if r["fingerprint"] == self.projections[r["projection"]].fingerprint
        ]

    async def live_pass(self) -> int:
        """One pass of the live loop: when some projection is behind, catch them all up as
        one trace (`traced_work`, its queries inside); an idle pass makes no span."""
        behind = await self.behind()
        if not behind:
            return 0
        with traced_work(
            "reporting project",
            tracer_provider=self.tracer_provider,
            **{"csm.projections.behind": len(behind)},
        ) as span:
            moved = await self.catch_up_all()
            span.set_attribute("csm.journal.positions_applied", moved)
            return moved

    async def catch_up_all(self) -> int:
        """Catch every projection up to the journal's head; positions moved in all. A
        projection held at a position its statements refuse waits for the next pass (see the
        module docstring) while the others catch up."""
        moved = 0
        held: set[str] = set()
        while True:
            step = 0
            for p in self.projections.values():
                if p.name in held:
                    continue
                try:
                    step += await self.catch_up(p)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    applied, stuck = await self._one_by_one(p)
                    step += applied
                    if stuck:
                        held.add(p.name)
            moved += step
            if step == 0:
                return moved

    async def _one_by_one(self, projection: Projection) -> tuple[int, bool]:
        """Apply the next batch one position at a time, up to the one that fails (skipped if
        it is poison by now); how many positions moved, and whether it stopped short."""
        async with self.pool.acquire() as conn, conn.transaction():
            lo = await self._live_position(conn, projection)
            if lo is None:
                return 0, False
            position = lo
            hi = await conn.fetchval(
                "SELECT max(seq) FROM (SELECT seq FROM journal WHERE seq > $1 ORDER BY seq"
                " LIMIT $2) s",
                lo,
                self.batch,
            )
            stuck = False
            while hi is not None and position < hi:
                try:
                    async with conn.transaction():  # a savepoint: only this position undone
                        await apply_range(
                            conn, projection, projection.schema, position, position + 1
                        )
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    event = await conn.fetchrow(
                        "SELECT event_id, type FROM journal WHERE seq = $1", position + 1
                    )
                    what = f"{projection.name} at {position + 1}: {dict(event or {})}"
                    if not self.poison.failed(what, exc):
                        log.warning(
                            "projection refused an event; will retry",
                            projection=projection.name,
                            position=position + 1,
                            error=f"{type(exc).__name__}: {exc}",
                        )
                        stuck = True
                        break
                position += 1
            await conn.execute(
                "UPDATE projection_checkpoints SET position = $2, updated_at = now()"
                " WHERE projection = $1",
                projection.name,
                position,
            )
            return int(position - lo), stuck

    async def run(self, stop: asyncio.Event, monitor: LoopMonitor | None = None) -> None:
        """The live loop: wake on the journal's NOTIFY (or every `idle_seconds`), catch up.

        Outlives a lost database (it listens again on a fresh connection when it is back) and
        a failed pass (logged, reported to `monitor`, tried again)."""
        monitor = monitor or LoopMonitor("projector")
        stale = await self.prepare()
        rebuilds = [asyncio.create_task(self._rebuild_quietly(p)) for p in stale]
        listener: PoolConnectionProxy[asyncpg.Record] | None = None
        pause = self.idle_seconds
        try:
            while not stop.is_set():
                try:
                    if listener is not None and listener.is_closed():
                        await self._stop_listening(listener)
                        listener = None
                    if listener is None:
                        listener = await self.pool.acquire()
                        await listener.add_listener(CHANNEL, self._notified)
                    await self.live_pass()
                    monitor.beat()
                    pause = self.idle_seconds
                except Exception as exc:
                    monitor.failed(exc)
                    if isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError):
                        log.warning("projector failed; retrying", error=str(exc))
                    else:
                        log.exception("projector failed; retrying")
                    await self._stop_listening(listener)
                    listener = None
                    pause = min(max(pause * 2, 0.5), 5.0)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
        finally:
            for task in rebuilds:
                task.cancel()
            await self._stop_listening(listener)

    async def _stop_listening(self, listener: PoolConnectionProxy[asyncpg.Record] | None) -> None:
        if listener is None:
            return
        with contextlib.suppress(Exception):
            await listener.remove_listener(CHANNEL, self._notified)
        with contextlib.suppress(Exception):
            await self.pool.release(listener)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _rebuild_quietly(self, projection: Projection) -> None:
        try:
            await self.rebuild(projection)
        except AlreadyRebuilding:
            log.info("another process is rebuilding", projection=projection.name)

    # --- rebuild --------------------------------------------------------------------------

    async def rebuild(
        self,
        projection: Projection,
        progress: Callable[[Progress], None] | None = None,
        *,
        chunk: int = REBUILD_CHUNK,
    ) -> Progress:
        """Build `projection` from the whole journal beside its live tables, then swap it in
        (catching up the last events while the live projector waits)."""
        async with self.pool.acquire() as conn:
            if not await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", REBUILD_LOCK, projection.name
            ):
                raise AlreadyRebuilding(projection.name)
            self.rebuilding.add(projection.name)
            try:
                return await self._rebuild(conn, projection, progress, chunk)
            finally:
                self.rebuilding.discard(projection.name)
                await conn.execute(
                    "SELECT pg_advisory_unlock($1, hashtext($2))", REBUILD_LOCK, projection.name
                )

    async def rebuild_all(
        self,
        projections: Sequence[Projection] | None = None,
        progress: Callable[[Progress], None] | None = None,
        *,
        parallel: int = REBUILD_PARALLEL,
    ) -> list[Progress]:
        """Rebuild several projections, `parallel` at a time: each runs on its own connection,
        so PostgreSQL works on them on separate cores."""
        gate = asyncio.Semaphore(parallel)

        async def one(p: Projection) -> Progress:
            async with gate:
                return await self.rebuild(p, progress)

        wanted = list(projections) if projections is not None else list(self.projections.values())
        return list(await asyncio.gather(*(one(p) for p in wanted)))

    async def _rebuild(
        self,
        conn: Connection,
        projection: Projection,
        progress: Callable[[Progress], None] | None,
        chunk: int,
    ) -> Progress:
        beside = f"{projection.schema}__next"
        async with conn.transaction():
            await conn.execute(f"DROP SCHEMA IF EXISTS {beside} CASCADE")
            await create_tables(conn, projection, beside, indexes=False)
        started = time.monotonic()
        position = 0
        head = int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM journal"))
        report = Progress(projection.name, 0, head, 0, 0.0)
        while position < head:
            upto = min(position + chunk, head)
            async with conn.transaction():
                await bulk_mode(conn)
                await apply_range(conn, projection, beside, position, upto)
            position = upto
            report = Progress(projection.name, position, head, position, time.monotonic() - started)
            self.progress[projection.name] = report
            if progress is not None:
                progress(report)
        async with conn.transaction():
            await bulk_mode(conn)
            await create_indexes(conn, projection, beside)
            # Fresh statistics, or the first live ranges plan as if the tables were empty.
            for table in projection.tables:
                await conn.execute(f"ANALYZE {beside}.{table}")
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", APPLY_LOCK, projection.name
            )
            final = int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM journal"))
            if final > position:
                await apply_range(conn, projection, beside, position, final)
            await conn.execute(f"DROP SCHEMA IF EXISTS {projection.schema} CASCADE")
            await conn.execute(f"ALTER SCHEMA {beside} RENAME TO {projection.schema}")
            await conn.execute(
                "INSERT INTO projection_checkpoints (projection, position, fingerprint)"
                " VALUES ($1, $2, $3) ON CONFLICT (projection) DO UPDATE SET position = $2,"
                " fingerprint = $3, built_at = now(), updated_at = now()",
                projection.name,
                final,
                projection.fingerprint,
            )
        report = Progress(projection.name, final, final, final, time.monotonic() - started)
        self.progress[projection.name] = report
        log.info(
            "projection rebuilt",
            projection=projection.name,
            events=final,
            seconds=round(report.elapsed, 2),
            rate=round(report.rate),
        )
        return report

    # --- status ---------------------------------------------------------------------------

    async def lags(self) -> list[Lag]:
        """Every projection's lag behind the journal."""
        async with self.pool.acquire() as conn:
            head = int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM journal"))
            rows = {
                r["projection"]: r for r in await conn.fetch("SELECT * FROM projection_checkpoints")
            }
            out = []
            for p in self.projections.values():
                row = rows.get(p.name)
                position = int(row["position"]) if row else 0
                behind = await conn.fetchrow(
                    "SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(received_at))"
                    " AS s FROM journal WHERE seq > $1",
                    position,
                )
                assert behind is not None
                out.append(
                    Lag(
                        projection=p.name,
                        position=position,
                        head=head,
                        events_behind=int(behind["n"]),
                        seconds_behind=float(behind["s"] or 0.0),
                        rebuilding=p.name in self.rebuilding
                        or (row is not None and row["fingerprint"] != p.fingerprint),
                        built_at=row["built_at"] if row else None,
                        updated_at=row["updated_at"] if row else None,
                    )
                )
            return out
