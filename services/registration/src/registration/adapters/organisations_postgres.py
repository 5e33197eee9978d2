"""Organisations in PostgreSQL: the event store (the truth) plus the `organisations` list.

`save` appends every change with `append_many_with` (a few round trips) in one transaction, and
writes the changed organisations' rows of the list in that same transaction: the list never
shows what the store does not hold, and a failed append (a stream that moved) leaves both
untouched. The store's position lock is held from the first append to the commit, so other
appends of this service wait for a large import to commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import asyncpg

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationKind, Region
from csm_contracts.events.registration import PartnershipAreasChanged
from csm_kernel.database import Connection
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore, StreamAppend

from ..application.ports import OrganisationFilter, OrganisationPage
from ..domain.organisation import Organisation, OrganisationChange, stream_id_for
from .event_streams import organisation_events

_COLUMNS = "code, version, name, kind, region, partnership_areas, linked_organisation_id, mapped_by"

# Every changed organisation's row in one statement (codes never contain a comma, so each
# row's areas travel as one comma-separated text).
_UPSERT = """
INSERT INTO organisations (code, version, name, kind, region, partnership_areas,
                           linked_organisation_id, mapped_by, registered_at, updated_at)
SELECT code, version, name, kind, region, string_to_array(areas, ','), linked, mapped_by, at, at
  FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
              $7::text[], $8::text[], $9::timestamptz[])
       AS r(code, version, name, kind, region, areas, linked, mapped_by, at)
ON CONFLICT (code) DO UPDATE SET
    version = EXCLUDED.version, name = EXCLUDED.name, kind = EXCLUDED.kind,
    region = EXCLUDED.region, partnership_areas = EXCLUDED.partnership_areas,
    linked_organisation_id = EXCLUDED.linked_organisation_id, mapped_by = EXCLUDED.mapped_by,
    updated_at = EXCLUDED.updated_at
"""


def _from_row(row: asyncpg.Record) -> Organisation:
    return Organisation(
        code=row["code"],
        version=row["version"],
        name=row["name"],
        kind=OrganisationKind(row["kind"]),
        region=Region(row["region"]),
        partnership_areas=list(row["partnership_areas"]),
        linked_organisation_id=row["linked_organisation_id"],
        mapped_by=row["mapped_by"],
    )


def _row_of(org: Organisation, at: Any) -> tuple[Any, ...]:
    assert org.kind is not None and org.region is not None
    return (
        org.code,
        org.version,
        org.name,
        org.kind.value,
        org.region.value,
        list(org.partnership_areas),
        org.linked_organisation_id,
        org.mapped_by,
        at,
    )


async def _write_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert or update list rows (as `_row_of` makes them), in one round trip."""
    columns: list[list[Any]] = [[] for _ in range(9)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    columns[5] = [",".join(areas) for areas in columns[5]]
    await conn.execute(_UPSERT, *columns)


class PostgresOrganisations:
    """The organisation repository over a service's own database."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore) -> None:
        self.pool = pool
        self.store = store
        self.events = organisation_events(store)

    async def load(self, code: str) -> Organisation:
        return await self.events.load(stream_id_for(code)) or Organisation(code=code)

    async def load_many(self, codes: Collection[str]) -> dict[str, Organisation]:
        if not codes:
            return {}
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM organisations WHERE code = ANY($1::text[])", list(codes)
        )
        return {r["code"]: _from_row(r) for r in rows}

    async def save(self, changes: Sequence[OrganisationChange], context: AppendContext) -> None:
        changes = [c for c in changes if c.events]
        if not changes:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await self.store.append_many_with(
                conn,
                [
                    StreamAppend(
                        stream_id_for(change.code),
                        change.expected_version,
                        [NewEvent.from_payload(e) for e in change.events],
                    )
                    for change in changes
                ],
                context,
            )
            rows = [
                _row_of(change.after(), written[-1].occurred_at)
                for change, written in zip(changes, stored, strict=True)
            ]
            await _write_rows(conn, rows)
            # The directory searches services by their provider's areas: keep them current.
            moved = [
                c for c in changes if any(isinstance(e, PartnershipAreasChanged) for e in c.events)
            ]
            if moved:
                await conn.execute(
                    "UPDATE directory_services d SET areas = string_to_array(m.areas_csv, ',') "
                    "FROM unnest($1::text[], $2::text[]) AS m(code, areas_csv) "
                    "WHERE d.provider_id = m.code",
                    [c.code for c in moved],
                    [",".join(c.after().partnership_areas) for c in moved],
                )

    async def search(self, query: OrganisationFilter) -> OrganisationPage:
        conditions: list[str] = []
        args: list[Any] = []

        def where(condition: str, value: Any) -> None:
            args.append(value)
            conditions.append(condition.replace("$?", f"${len(args)}"))

        if query.region is not None:
            where("region = $?", query.region.value)
        if query.kind is not None:
            where("kind = $?", query.kind.value)
        if query.area is not None:
            where("partnership_areas @> ARRAY[$?::text]", query.area)
        matching = " AND ".join(conditions) or "true"
        total = await self.pool.fetchval(
            f"SELECT count(*) FROM organisations WHERE {matching}", *args
        )
        filters = list(args)
        # Keyset paging both ways: forward after a code, or back to the page before one.
        backwards = query.before is not None and query.after is None
        if backwards:
            where("code < $?", query.before)
        elif query.after is not None:
            where("code > $?", query.after)
        args.append(query.limit + 1)
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM organisations WHERE {' AND '.join(conditions) or 'true'} "
            f"ORDER BY code {'DESC' if backwards else ''} LIMIT ${len(args)}",
            *args,
        )
        more = len(rows) > query.limit
        items = [_from_row(r) for r in rows[: query.limit]]
        if backwards:
            items.reverse()
        if not items:
            return OrganisationPage(items=[], total=int(total), next_after=None)

        async def beyond(operator: str, code: str) -> bool:
            return bool(
                await self.pool.fetchval(
                    f"SELECT EXISTS (SELECT 1 FROM organisations WHERE {matching} "
                    f"AND code {operator} ${len(filters) + 1})",
                    *filters,
                    code,
                )
            )

        has_next = more if not backwards else await beyond(">", items[-1].code)
        has_previous = more if backwards else await beyond("<", items[0].code)
        return OrganisationPage(
            items=items,
            total=int(total),
            next_after=items[-1].code if has_next else None,
            previous_before=items[0].code if has_previous else None,
        )

    async def stream(self, code: str) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id_for(code))


async def rebuild_organisation_list(pool: asyncpg.Pool, store: PostgresEventStore) -> int:
    """Rebuild the `organisations` table from the event store (the truth), in one transaction;
    returns how many organisations it holds. For operators: after a restore, or a bug in how
    the list was written.

    The table is locked before the events are read: a save that commits meanwhile writes its
    row after the rebuild commits, so none is lost either way."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE organisations IN EXCLUSIVE MODE")
        streams: dict[str, list[EventEnvelope]] = {}
        async for envelope in store.iterate_all():
            if envelope.stream_id.startswith("organisation-"):
                streams.setdefault(envelope.stream_id, []).append(envelope)
        rows = []
        organisations = organisation_events(store)
        for events in streams.values():
            org = organisations.fold(None, events)
            if org is not None and org.registered:
                rows.append((*_row_of(org, events[-1].occurred_at), events[0].occurred_at))
        await conn.execute("DELETE FROM organisations")
        await conn.executemany(
            "INSERT INTO organisations (code, version, name, kind, region, partnership_areas, "
            "linked_organisation_id, mapped_by, updated_at, registered_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            rows,
        )
    return len(rows)
