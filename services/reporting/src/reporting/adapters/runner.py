"""Runs a report's query on the live projections, or on a scratch copy replayed up to a moment.

As-at is a real replay, not a guess from current state: in one transaction that is always
rolled back, a view of the journal up to the moment (and, where the report says so, only the
organisations it concerns) stands in for the journal, each projection the report reads is
built from it into a scratch schema by the same statements as the live projector, and the
report's query runs there. Nothing of it outlives the transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from csm_kernel.database import Connection

from ..application.projection import Projection
from ..application.reports import Report, ReportRequest, ReportResult
from .projector import (
    apply_range,
    bulk_mode,
    create_indexes,
    create_tables,
    search_path,
    set_path,
)


class ReportRunner:
    """Runs reports over the projections."""

    def __init__(self, pool: asyncpg.Pool, projections: Sequence[Projection]) -> None:
        self.pool = pool
        self.projections = {p.name: p for p in projections}

    def _read(self, report: Report) -> list[Projection]:
        return [self.projections[name] for name in report.projections]

    async def live(
        self, report: Report, request: ReportRequest
    ) -> tuple[ReportResult, datetime | None]:
        """The report now, and the time of the newest event its projections have applied.

        One snapshot for all of it (REPEATABLE READ): a report that takes several queries never
        mixes tables from before and after a projector's commit, and the data time is that of
        the rows read. The search path and the data time share the first round trip."""
        projections = self._read(report)
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            data_time = await conn.fetchval(
                "SELECT (SELECT max(j.occurred_at) FROM public.projection_checkpoints c"
                "         JOIN public.journal j ON j.seq = c.position"
                "        WHERE c.projection = ANY($1::text[])),"
                "       set_config('search_path', $2, true)",
                [p.name for p in projections],
                search_path(*(p.schema for p in projections)),
            )
            result = await report.query(conn, request)
        return result, data_time

    async def as_at(self, report: Report, request: ReportRequest) -> ReportResult:
        """The report as it stood at `request.as_at`, replayed from the journal: the events
        that occurred by then, or, for a named moment (`request.as_at_position`), every event
        journalled up to the one that defines it, inclusive."""
        assert request.as_at is not None
        projections = self._read(report)
        tag = secrets.token_hex(6)
        async with self.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                keys = None
                if report.as_at_keys is not None:
                    async with conn.transaction():  # a savepoint: the live tables decide keys
                        await set_path(conn, *(p.schema for p in projections))
                        keys = await report.as_at_keys(conn, request)
                await bulk_mode(conn)
                await self._journal_until(conn, f"asat_{tag}", request, keys, projections)
                schemas = []
                for p in projections:
                    schema = f"asat_{tag}_{p.name}"
                    await create_tables(conn, p, schema, indexes=False)
                    head = await conn.fetchval(
                        f"SELECT coalesce(max(seq), 0) FROM asat_{tag}.journal"
                    )
                    await apply_range(conn, p, schema, 0, head, f"asat_{tag}")
                    await create_indexes(conn, p, schema)
                    schemas.append(schema)
                await set_path(conn, *schemas)
                return await report.query(conn, request)
            finally:
                await tx.rollback()

    @staticmethod
    async def _journal_until(
        conn: Connection,
        schema: str,
        request: ReportRequest,
        keys: Sequence[str] | None,
        projections: Sequence[Projection],
    ) -> None:
        types = sorted(set().union(*(p.reads for p in projections)))
        # A view cannot take parameters: the values are quoted by PostgreSQL itself.
        if request.as_at_position is not None:
            # A named moment: up to the event that defines it, inclusive, and nothing after.
            where = f"seq <= {int(request.as_at_position)}"
        else:
            at_literal = await conn.fetchval(
                "SELECT quote_literal($1::timestamptz::text)", request.as_at
            )
            where = f"occurred_at <= {at_literal}::timestamptz"
        types_literal = await conn.fetchval("SELECT quote_literal($1::text[]::text)", types)
        where += f" AND type = ANY({types_literal}::text[])"
        if keys is not None:
            keys_literal = await conn.fetchval("SELECT quote_literal($1::text[]::text)", list(keys))
            where += f" AND key = ANY({keys_literal}::text[])"
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE VIEW {schema}.journal AS SELECT * FROM public.journal WHERE {where}"
        )
