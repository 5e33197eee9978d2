"""The directory on PostgreSQL: service streams in the event store, the read model beside them.

Every write appends to the record's stream and updates `directory_services` on one connection
in one transaction, so the read model never disagrees with the store it is built from.

The copy of which returns are signed off (`signed_off_returns`, `sql/026_signed_off_returns.sql`)
is written by the questionnaire topic's consumer and read by the directory's writes, each under
the store's position lock (`signed_off`, `record_signed_off`): see `signed_off`.

Many new records at once (bulk import, carry-forward) are prepared before the transaction
opens (`PostgresEventStore.prepare_many`) and written with `write_prepared`: up to
`APPEND_BATCH` streams per round trip inside the caller's transaction. Measured on 10,000
services: one `append_with` per service ~540 us each (~1,000 services/s with the read model);
100 streams per call ~90 us per service.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.directory import ServiceStatus
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import ConcurrencyConflict
from csm_kernel.event_sourcing import EventRow, EventSourcedRepository
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import POSITION_LOCK, PostgresEventStore, StreamAppend

from ..application.ports import (
    DirectoryQuery,
    NewRecord,
    ReturnKey,
    Scope,
    SearchPage,
    ServiceSummary,
)
from ..domain.organisation import Organisation
from ..domain.organisation import stream_id_for as organisation_stream
from ..domain.returns import SignedOffReturn
from ..domain.service_record import FIELD_PATHS, ServiceDetails, ServiceRecord, stream_id_for
from .event_streams import organisation_events, service_events

S = TypeVar("S")

#: Streams appended per `csm_append` call in a bulk write.
APPEND_BATCH = 100
#: Search counts matches up to this many; a broader search reports a lower bound.
TOTAL_LIMIT = 2000
#: Read-model rows per COPY in a bulk write.
COPY_BATCH = 5000

#: The read model's columns: where the record stands, its details (columns named as the
#: `ServiceDetails` attributes), and what the searches filter on.
COLUMNS = (
    "service_id",
    "version",
    "cycle",
    "status",
    *FIELD_PATHS,
    "organisation_ids",
    "areas",
    "previous_service_id",
    "previous_cycle",
)

_UPSERT = (
    f"INSERT INTO directory_services ({', '.join(COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT (service_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
)

_SUMMARY = ", ".join(
    ("service_id", "version", "cycle", "status", *FIELD_PATHS, "areas", "previous_service_id")
)


def read_model_row(record: ServiceRecord, areas: Sequence[str]) -> tuple[Any, ...]:
    """The `directory_services` row of a record, in `COLUMNS` order."""
    d = record.current()
    assert record.cycle is not None and record.status is not None
    details = d.flat()
    details["service_type"] = d.service_type.value
    return (
        record.service_id,
        record.version,
        record.cycle,
        record.status.value,
        *details.values(),
        list(d.organisation_ids),
        list(areas),
        record.previous_service_id,
        record.previous_cycle,
    )


async def _read_streams(
    conn: Connection, events: EventSourcedRepository[S], stream_ids: Sequence[str]
) -> dict[str, S]:
    """The state of several streams, read in one query and folded through `events`."""
    rows = await conn.fetch(
        "SELECT stream_id, type, version, occurred_at, data::text AS data FROM events "
        "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version",
        list(stream_ids),
    )
    by_stream: dict[str, list[EventRow]] = defaultdict(list)
    for r in rows:
        by_stream[r["stream_id"]].append(
            (r["type"], r["version"], r["occurred_at"], json.loads(r["data"]))
        )
    out: dict[str, S] = {}
    for stream_id, stream_rows in by_stream.items():
        state = events.fold_rows(None, stream_id, 0, stream_rows)
        if state is not None:
            out[stream_id] = state
    return out


class PostgresDirectory:
    """The `Directory` port on the service's own PostgreSQL database.

    Bound to a connection (`bound`), every write joins that connection's open transaction (a
    Kafka consumer's, which records the message as processed in the same transaction);
    otherwise each write takes a pooled connection and its own transaction.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        pool: asyncpg.Pool,
        conn: Connection | None = None,
        *,
        savepoints: bool = True,
    ) -> None:
        self.store = store
        self.pool = pool
        self.conn = conn
        #: Whether a write on `conn` is a savepoint of the caller's transaction; not in a
        #: transaction of `transaction()`'s own, which a failed write ends anyway.
        self.savepoints = savepoints
        self.services = service_events(store)
        self.organisations = organisation_events(store)

    def joined(self, conn: Connection) -> PostgresDirectory:
        return PostgresDirectory(self.store, self.pool, conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresDirectory]:
        if self.conn is not None:
            async with self.conn.transaction():
                yield self
            return
        async with self.pool.acquire() as conn, conn.transaction():
            yield PostgresDirectory(self.store, self.pool, conn, savepoints=False)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if self.conn is not None:
            yield self.conn
            return
        async with self.pool.acquire() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        if self.conn is not None and not self.savepoints:
            yield self.conn  # in `transaction()`'s own transaction
            return
        if self.conn is not None:
            async with self.conn.transaction():  # a savepoint in the caller's transaction
                yield self.conn
            return
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    # --- reading ----------------------------------------------------------------------------

    async def load(self, service_id: uuid.UUID) -> ServiceRecord:
        (record,) = await self.load_many([service_id])
        return record

    async def load_many(self, service_ids: Sequence[uuid.UUID]) -> list[ServiceRecord]:
        async with self._connection() as conn:
            found = await _read_streams(
                conn, self.services, [stream_id_for(i) for i in service_ids]
            )
        return [found.get(stream_id_for(i)) or ServiceRecord(service_id=i) for i in service_ids]

    async def history(self, service_id: uuid.UUID) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id_for(service_id))

    async def organisation_areas(self, codes: Iterable[str]) -> dict[str, tuple[str, ...]]:
        wanted = sorted(set(codes))
        async with self._connection() as conn:
            found: dict[str, Organisation] = await _read_streams(
                conn, self.organisations, [organisation_stream(c) for c in wanted]
            )
        out: dict[str, tuple[str, ...]] = {}
        for code in wanted:
            org = found.get(organisation_stream(code))
            if org is not None and org.registered:
                out[code] = tuple(org.partnership_areas)
        return out

    async def group_organisations(self, group_ids: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(group_ids))
        if not wanted:
            return {}
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT group_id, organisation_id FROM service_groups WHERE group_id = ANY($1)",
                wanted,
            )
        return {r["group_id"]: r["organisation_id"] for r in rows}

    # --- writing ----------------------------------------------------------------------------

    async def save(
        self,
        record: ServiceRecord,
        expected_version: int,
        events: Sequence[EventPayload],
        areas: Sequence[str],
        context: AppendContext,
    ) -> None:
        async with self._transaction() as conn:
            await self.store.append_with(
                conn,
                record.stream_id,
                expected_version,
                [NewEvent.from_payload(e) for e in events],
                context,
            )
            await conn.execute(_UPSERT, *read_model_row(record, areas))

    async def save_new(
        self, items: Sequence[NewRecord], context: AppendContext, *, skip_existing: bool
    ) -> int:
        # Everything but the database work first: appends in a transaction serialise on the
        # store's position lock, so the less the transaction holds it, the more concurrent
        # imports overlap (one prepares while another writes).
        batches = []
        for start in range(0, len(items), APPEND_BATCH):
            batch = items[start : start + APPEND_BATCH]
            pending = self.store.prepare_many(
                [
                    StreamAppend(
                        i.record.stream_id, 0, [NewEvent.from_payload(e) for e in i.events]
                    )
                    for i in batch
                ],
                context,
            )
            batches.append((batch, pending, [read_model_row(i.record, i.areas) for i in batch]))
        written = 0
        async with self._transaction() as conn:
            rows: list[tuple[Any, ...]] = []
            for batch, pending, batch_rows in batches:
                ok = await self.store.write_prepared(conn, pending)
                if all(ok):
                    rows.extend(batch_rows)
                    continue
                if not skip_existing:
                    first = next(i for i, good in zip(batch, ok, strict=True) if not good)
                    raise ConcurrencyConflict(first.record.stream_id, 0)
                rows.extend(r for r, good in zip(batch_rows, ok, strict=True) if good)
            for start in range(0, len(rows), COPY_BATCH):
                await conn.copy_records_to_table(
                    "directory_services", records=rows[start : start + COPY_BATCH], columns=COLUMNS
                )
            written = len(rows)
        return written

    # --- signed-off returns -----------------------------------------------------------------

    async def signed_off(self, returns: Collection[ReturnKey]) -> list[SignedOffReturn]:
        wanted = sorted(set(returns))
        if not wanted:
            return []
        # In a transaction, under the store's position lock until it ends (sql/026). Outside
        # one the answer is a glance (a dry run's): a lock would only wait for another write's
        # commit and hold nothing after it.
        lock = POSITION_LOCK if self.conn is not None else None
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM directory_signed_off($1, $2::text[], $3::text[])",
                lock,
                [c for c, _ in wanted],
                [o for _, o in wanted],
            )
        return [
            SignedOffReturn(r["out_cycle"], r["out_organisation_id"], r["out_signed_off_at"])
            for r in rows
        ]

    async def record_signed_off(
        self, cycle: str, organisation_id: str, signed_off_at: datetime, return_version: int
    ) -> None:
        await self._record_return(cycle, organisation_id, signed_off_at, return_version)

    async def record_reopened(self, cycle: str, organisation_id: str, return_version: int) -> None:
        await self._record_return(cycle, organisation_id, None, return_version)

    async def _record_return(
        self, cycle: str, organisation_id: str, signed_off_at: datetime | None, version: int
    ) -> None:
        async with self._transaction() as conn:
            # The lock every directory write holds from its check of this table to its commit:
            # a write in flight commits before this does, and one after sees it.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", POSITION_LOCK)
            await conn.execute(
                "INSERT INTO signed_off_returns "
                "(cycle, organisation_id, signed_off_at, return_version) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (cycle, organisation_id) DO UPDATE SET "
                "signed_off_at = excluded.signed_off_at, "
                "return_version = excluded.return_version, updated_at = now() "
                "WHERE signed_off_returns.return_version < excluded.return_version",
                cycle,
                organisation_id,
                signed_off_at,
                version,
            )

    # --- the read model ---------------------------------------------------------------------

    async def search(self, query: DirectoryQuery, scope: Scope) -> SearchPage:
        """One query, whose cost is bounded whatever the filters: take up to `TOTAL_LIMIT`
        (+1) matching rows in whatever order is cheapest (a GIN bitmap, an index, a scan),
        count them, order them (by relevance for a text search, then by name) and cut the
        page. When more match, counting stops: the total is a lower bound and the pages cover
        the first `TOTAL_LIMIT` found. Ordering everything by name through the name index
        instead looks cheap to the planner but is not when the matches sit at the end of the
        alphabet (measured: 160 ms for "young carers" over 100,000 records)."""
        where, args, text = _conditions(query, scope)
        sql_where = " AND ".join(where) or "true"
        rank, order = "", "name, service_id"
        if text is not None:
            rank = f", ts_rank(search, websearch_to_tsquery('english', {text})) AS rank"
            order = f"rank DESC, {order}"
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_SUMMARY}, count(*) OVER () AS hits FROM ("
                f"SELECT {_SUMMARY}{rank} FROM directory_services WHERE {sql_where} "
                f"LIMIT {TOTAL_LIMIT + 1}) AS found "
                f"ORDER BY {order} LIMIT {int(query.limit)} OFFSET {int(query.offset)}",
                *args,
            )
            if rows:
                counted = int(rows[0]["hits"])
            else:  # past the last page (or nothing at all): count on its own
                counted = int(
                    await conn.fetchval(
                        f"SELECT count(*) FROM (SELECT 1 FROM directory_services "
                        f"WHERE {sql_where} LIMIT {TOTAL_LIMIT + 1}) AS found",
                        *args,
                    )
                )
        exact = counted <= TOTAL_LIMIT
        if not exact:  # pages cover the first TOTAL_LIMIT found
            rows = rows[: max(0, TOTAL_LIMIT - query.offset)]
        return SearchPage(
            total=min(counted, TOTAL_LIMIT),
            total_is_exact=exact,
            items=[_summary(r) for r in rows],
        )

    async def active_ids(self, cycle: str) -> list[uuid.UUID]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT service_id FROM directory_services WHERE cycle = $1 AND status = $2 "
                "ORDER BY service_id",
                cycle,
                ServiceStatus.ACTIVE.value,
            )
        return [r["service_id"] for r in rows]

    async def existing_services(
        self, providers: Iterable[str], cycles: Iterable[str], service_ids: Iterable[uuid.UUID]
    ) -> list[ServiceSummary]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_SUMMARY} FROM directory_services "
                "WHERE (provider_id = ANY($1::text[]) AND cycle = ANY($2::text[])) "
                "OR service_id = ANY($3::uuid[])",
                sorted(set(providers)),
                sorted(set(cycles)),
                list(set(service_ids)),
            )
        return [_summary(r) for r in rows]

    async def keep_upload(self, actor: str, media_type: str, body: bytes) -> uuid.UUID:
        upload_id = uuid.uuid4()
        async with self._transaction() as conn:
            # Files are kept a day: whoever keeps one clears the stale ones.
            await conn.execute(
                "DELETE FROM service_import_uploads WHERE created_at < now() - interval '1 day'"
            )
            await conn.execute(
                "INSERT INTO service_import_uploads (upload_id, actor, media_type, body) "
                "VALUES ($1, $2, $3, $4)",
                upload_id,
                actor,
                media_type,
                body,
            )
        return upload_id

    async def kept_upload(self, upload_id: uuid.UUID, actor: str) -> tuple[str, bytes] | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT media_type, body FROM service_import_uploads WHERE upload_id = $1 "
                "AND actor = $2 AND created_at >= now() - interval '1 day'",
                upload_id,
                actor,
            )
        return (row["media_type"], bytes(row["body"])) if row is not None else None

    async def carried_from(self, cycle: str) -> set[uuid.UUID]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT previous_service_id FROM directory_services "
                "WHERE cycle = $1 AND previous_service_id IS NOT NULL",
                cycle,
            )
        return {r["previous_service_id"] for r in rows}


def _conditions(query: DirectoryQuery, scope: Scope) -> tuple[list[str], list[Any], str | None]:
    """WHERE conditions, their arguments, and the placeholder of the text query (if any)."""
    where: list[str] = []
    args: list[Any] = []
    text: str | None = None

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if not scope.everything:
        where.append(f"organisation_ids @> ARRAY[{arg(scope.organisation_id)}]::text[]")
        if scope.group_id is not None:
            where.append(f"group_id = {arg(scope.group_id)}")
    if query.text:
        text = arg(query.text)
        where.append(f"search @@ websearch_to_tsquery('english', {text})")
    if query.statuses:
        where.append(f"status = ANY({arg([s.value for s in query.statuses])}::text[])")
    if query.cycle is not None:
        where.append(f"cycle = {arg(query.cycle)}")
    if query.area is not None:
        where.append(f"areas @> ARRAY[{arg(query.area)}]::text[]")
    if query.locality is not None:
        where.append(f"group_id = {arg(query.locality)}")
    if query.service_type is not None:
        where.append(f"service_type = {arg(query.service_type.value)}")
    if query.tier is not None:
        where.append(f"camhs_tier = {arg(query.tier)}")
    if query.age is not None:
        a = arg(query.age)
        where.append(f"age_min <= {a} AND age_max >= {a}")
    return where, args, text


def _summary(r: asyncpg.Record) -> ServiceSummary:
    return ServiceSummary(
        service_id=r["service_id"],
        version=r["version"],
        cycle=r["cycle"],
        status=ServiceStatus(r["status"]),
        details=ServiceDetails.from_flat(dict(r.items())),
        areas=tuple(r["areas"]),
        previous_service_id=r["previous_service_id"],
    )
