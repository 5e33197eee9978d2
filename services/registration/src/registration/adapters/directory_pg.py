"""The directory on PostgreSQL: service streams in the event store, the read model beside them.

Every write appends to the record's stream and updates `directory_services` on one connection
in one transaction, so the read model never disagrees with the store it is built from.

Many new records at once (bulk import, carry-forward) are prepared before the transaction
opens (`PostgresEventStore.prepare_many`) and written with `write_prepared`: up to
`APPEND_BATCH` streams per round trip inside the caller's transaction. Measured on 10,000
services: one `append_with` per service ~540 us each (~1,000 services/s with the read model);
100 streams per call ~90 us per service.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.directory import ServiceStatus, ServiceType
from csm_contracts.registry import EventPayload, payload_class
from csm_kernel.database import Connection
from csm_kernel.errors import ConcurrencyConflict
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore, StreamAppend

from ..application.directory import (
    DirectoryQuery,
    NewRecord,
    Scope,
    SearchPage,
    ServiceSummary,
)
from ..domain.organisation import Organisation
from ..domain.organisation import stream_id_for as organisation_stream
from ..domain.service_record import ServiceRecord, stream_id_for

#: Streams appended per `csm_append` call in a bulk write.
APPEND_BATCH = 100
#: Search counts matches up to this many; a broader search reports a lower bound.
TOTAL_LIMIT = 2000
#: Read-model rows per COPY in a bulk write.
COPY_BATCH = 5000

COLUMNS = (
    "service_id", "version", "cycle", "status", "name", "description", "service_type",
    "age_min", "age_max", "needs", "camhs", "camhs_tier", "group_id", "provider_id",
    "commissioner_ids", "organisation_ids", "areas", "contact_name", "contact_email",
    "contact_phone", "previous_service_id", "previous_cycle",
)  # fmt: skip

_UPSERT = (
    f"INSERT INTO directory_services ({', '.join(COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT (service_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
)

_SUMMARY = (
    "service_id, version, cycle, status, name, description, service_type, age_min, age_max, "
    "needs, camhs, camhs_tier, group_id, provider_id, commissioner_ids, areas, "
    "previous_service_id"
)


def read_model_row(record: ServiceRecord, areas: Sequence[str]) -> tuple[Any, ...]:
    """The `directory_services` row of a record, in `COLUMNS` order."""
    d = record.current()
    assert record.cycle is not None and record.status is not None
    return (
        record.service_id, record.version, record.cycle, record.status.value, d.name,
        d.description, d.service_type.value, d.age_min, d.age_max, list(d.needs), d.camhs,
        d.camhs_tier, d.group_id, d.provider_id, list(d.commissioner_ids),
        list(d.organisation_ids), list(areas), d.contact_name, d.contact_email,
        d.contact_phone, record.previous_service_id, record.previous_cycle,
    )  # fmt: skip


async def _read_streams(
    conn: Connection, stream_ids: Sequence[str]
) -> dict[str, list[EventPayload]]:
    """Payloads of several streams in one query, each stream in version order."""
    rows = await conn.fetch(
        "SELECT stream_id, type, version, data::text AS data FROM events "
        "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version",
        list(stream_ids),
    )
    out: dict[str, list[EventPayload]] = defaultdict(list)
    for r in rows:
        out[r["stream_id"]].append(
            payload_class(r["type"], r["version"]).model_validate_json(r["data"])
        )
    return out


class PostgresDirectory:
    """The `Directory` port on the service's own PostgreSQL database.

    Bound to a connection (`bound`), every write joins that connection's open transaction (a
    Kafka consumer's, which records the message as processed in the same transaction);
    otherwise each write takes a pooled connection and its own transaction.
    """

    def __init__(
        self, store: PostgresEventStore, pool: asyncpg.Pool, conn: Connection | None = None
    ) -> None:
        self.store = store
        self.pool = pool
        self.conn = conn

    def bound(self, conn: Connection) -> PostgresDirectory:
        return PostgresDirectory(self.store, self.pool, conn)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if self.conn is not None:
            yield self.conn
            return
        async with self.pool.acquire() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
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
            streams = await _read_streams(conn, [stream_id_for(i) for i in service_ids])
        return [
            ServiceRecord.from_history(i, streams.get(stream_id_for(i), [])) for i in service_ids
        ]

    async def history(self, service_id: uuid.UUID) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id_for(service_id))

    async def organisation_areas(self, codes: Iterable[str]) -> dict[str, tuple[str, ...]]:
        wanted = sorted(set(codes))
        async with self._connection() as conn:
            streams = await _read_streams(conn, [organisation_stream(c) for c in wanted])
        out: dict[str, tuple[str, ...]] = {}
        for code in wanted:
            org = Organisation.from_history(code, streams.get(organisation_stream(code), []))
            if org.registered:
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
        name=r["name"],
        description=r["description"],
        service_type=ServiceType(r["service_type"]),
        age_min=r["age_min"],
        age_max=r["age_max"],
        needs=list(r["needs"]),
        camhs=r["camhs"],
        camhs_tier=r["camhs_tier"],
        group_id=r["group_id"],
        provider_id=r["provider_id"],
        commissioner_ids=list(r["commissioner_ids"]),
        areas=list(r["areas"]),
        previous_service_id=r["previous_service_id"],
    )
