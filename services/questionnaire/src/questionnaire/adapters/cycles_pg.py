"""Cycles and organisations' returns in PostgreSQL: events and their rows in one transaction."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import orjson

from csm_contracts.events.cycles import Phase, Timetable
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import NotFound
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore

from ..application.ports import ReturnRecord
from ..domain.cycle import (
    OWING,
    CycleState,
    ReturnState,
    cycle_stream,
    evolve_cycle,
    evolve_return,
    return_stream,
)

#: The transaction lock behind `lock_issuing` (the kernel's locks are 7300000-7300002).
_ISSUING_LOCK = 7_300_210


def cycle_from_row(row: asyncpg.Record, prefix: str = "") -> CycleState:
    return CycleState(
        cycle=row["cycle"],
        version=row[f"{prefix}version"],
        phase=Phase(row["phase"]),
        timetable=_timetable(row["timetable"]),
        previous_cycle=row["previous_cycle"],
    )


@functools.lru_cache(maxsize=64)
def _timetable(stored: str) -> Timetable:
    """Every load reads its cycle's timetable, and there are a handful of them: validate each
    stored text once (it is frozen)."""
    return Timetable.model_validate_json(stored)


def return_from_row(
    row: asyncpg.Record | None, cycle: str, organisation_id: str, prefix: str = ""
) -> ReturnState:
    if row is None or row[f"{prefix}version"] is None:
        return ReturnState(cycle, organisation_id)
    return ReturnState(
        cycle=cycle,
        organisation_id=organisation_id,
        version=row[f"{prefix}version"],
        extension_until=row["extension_until"],
        reopened=row["reopened"],
        signed_off_at=row["signed_off_at"],
        signed_off_by=row["signed_off_by"],
    )


class PostgresCycles:
    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore) -> None:
        self.pool = pool
        self.store = store

    async def find(self, cycle: str, conn: Connection | None = None) -> CycleState | None:
        row = await (conn or self.pool).fetchrow("SELECT * FROM cycles WHERE cycle = $1", cycle)
        return cycle_from_row(row) if row else None

    async def get(self, cycle: str, conn: Connection | None = None) -> CycleState:
        found = await self.find(cycle, conn)
        if found is None:
            raise NotFound(f"no cycle {cycle}")
        return found

    async def all(self) -> list[CycleState]:
        rows = await self.pool.fetch("SELECT * FROM cycles ORDER BY cycle")
        return [cycle_from_row(r) for r in rows]

    async def not_issued(self) -> list[str]:
        """Cycles in data entry whose owed questionnaires are not all issued yet."""
        rows = await self.pool.fetch(
            "SELECT cycle FROM cycles WHERE NOT issued AND phase = ANY($1::text[]) ORDER BY cycle",
            [p.value for p in OWING],
        )
        return [r["cycle"] for r in rows]

    async def owing(self, conn: Connection) -> list[str]:
        """Cycles in which questionnaires are owed (data entry opened, not yet published)."""
        rows = await conn.fetch(
            "SELECT cycle FROM cycles WHERE phase = ANY($1::text[]) ORDER BY cycle",
            [p.value for p in OWING],
        )
        return [r["cycle"] for r in rows]

    async def lock_issuing(self, conn: Connection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _ISSUING_LOCK)

    async def mark_issued(self, conn: Connection, cycle: str) -> None:
        await conn.execute("UPDATE cycles SET issued = true WHERE cycle = $1", cycle)

    async def append(
        self,
        conn: Connection,
        before: CycleState | None,
        cycle: str,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> CycleState:
        """Append a cycle's events at the version it was decided from and move its row."""
        version = before.version if before else 0
        await self.store.append_with(
            conn, cycle_stream(cycle), version, [NewEvent.from_payload(e) for e in events], context
        )
        state = before
        for event in events:
            state = evolve_cycle(state, event)
        assert state is not None
        await conn.execute(
            """
            INSERT INTO cycles (cycle, version, previous_cycle, timetable, phase, updated_at)
            VALUES ($1, $2, $3, $4::jsonb, $5, $6)
            ON CONFLICT (cycle) DO UPDATE SET version = EXCLUDED.version,
                timetable = EXCLUDED.timetable, phase = EXCLUDED.phase,
                updated_at = EXCLUDED.updated_at
            """,
            cycle,
            state.version,
            state.previous_cycle,
            state.timetable.model_dump_json(),
            state.phase.value,
            at,
        )
        return state

    # --- returns ---------------------------------------------------------------------------

    async def load_return(
        self, cycle: str, organisation_id: str, conn: Connection | None = None
    ) -> ReturnState:
        row = await (conn or self.pool).fetchrow(
            "SELECT * FROM returns WHERE cycle = $1 AND organisation_id = $2",
            cycle,
            organisation_id,
        )
        return return_from_row(row, cycle, organisation_id)

    async def append_return(
        self,
        conn: Connection,
        before: ReturnState,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> ReturnState:
        """Append a return's events at the version it was decided from and move its row."""
        await self.store.append_with(
            conn,
            return_stream(before.cycle, before.organisation_id),
            before.version,
            [NewEvent.from_payload(e) for e in events],
            context,
        )
        state = before
        sign_offs = 0
        for event in events:
            state = evolve_return(state, event)
            sign_offs += isinstance(event, CycleSignedOff)
        await conn.execute(
            """
            INSERT INTO returns (cycle, organisation_id, version, extension_until, reopened,
                                 signed_off_at, signed_off_by, sign_offs, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (cycle, organisation_id) DO UPDATE SET version = EXCLUDED.version,
                extension_until = EXCLUDED.extension_until, reopened = EXCLUDED.reopened,
                signed_off_at = EXCLUDED.signed_off_at, signed_off_by = EXCLUDED.signed_off_by,
                sign_offs = returns.sign_offs + EXCLUDED.sign_offs,
                updated_at = EXCLUDED.updated_at
            """,
            state.cycle,
            state.organisation_id,
            state.version,
            state.extension_until,
            state.reopened,
            state.signed_off_at,
            state.signed_off_by,
            sign_offs,
            at,
        )
        return state

    async def returns(self, cycle: str) -> list[ReturnRecord]:
        rows = await self.pool.fetch(
            "SELECT cycle, organisation_id, version, extension_until, reopened, signed_off_at, "
            "signed_off_by, sign_offs, updated_at FROM returns WHERE cycle = $1 "
            "ORDER BY organisation_id",
            cycle,
        )
        return [ReturnRecord(**dict(r)) for r in rows]

    async def last_sign_off(
        self, conn: Connection, cycle: str, organisation_id: str
    ) -> datetime | None:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE stream_id = $1 AND type = $2 "
            "ORDER BY stream_version DESC LIMIT 1",
            return_stream(cycle, organisation_id),
            CycleSignedOff.EVENT_TYPE,
        )
        if data is None:
            return None
        return datetime.fromisoformat(orjson.loads(data)["signed_off_at"])

    async def last_sign_off_id(
        self, conn: Connection, cycle: str, organisation_id: str
    ) -> str | None:
        event_id = await conn.fetchval(
            "SELECT event_id FROM events WHERE stream_id = $1 AND type = $2 "
            "ORDER BY stream_version DESC LIMIT 1",
            return_stream(cycle, organisation_id),
            CycleSignedOff.EVENT_TYPE,
        )
        return None if event_id is None else str(event_id)

    async def stream_heads(self, conn: Connection, stream_ids: Sequence[str]) -> dict[str, str]:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (stream_id) stream_id, hash FROM events "
            "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version DESC",
            list(stream_ids),
        )
        return {r["stream_id"]: r["hash"] for r in rows}
