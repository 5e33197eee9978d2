"""Cycles and organisations' returns in PostgreSQL: events and their rows in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from csm_contracts.events.cycles import ReturnReopened
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import NotFound
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore, StreamAppend

from ..domain.cycle import OWING, CycleState, ReturnState, evolve_cycle, evolve_return
from ..domain.questionnaire import unlock
from .questionnaires_pg import current_of_return, cycle_from_row


def cycle_stream(cycle: str) -> str:
    return f"cycle-{cycle}"


def return_stream(cycle: str, organisation_id: str) -> str:
    return f"return-{cycle}-{organisation_id}"


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
            cycle, state.version, state.previous_cycle, state.timetable.model_dump_json(),
            state.phase.value, at,
        )  # fmt: skip
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
        if row is None:
            return ReturnState(cycle, organisation_id)
        return ReturnState(
            cycle=cycle,
            organisation_id=organisation_id,
            version=row["version"],
            extension_until=row["extension_until"],
            reopened=row["reopened"],
            signed_off_at=row["signed_off_at"],
            signed_off_by=row["signed_off_by"],
        )

    async def append_return(
        self,
        conn: Connection,
        before: ReturnState,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> ReturnState:
        """Append a return's events and move its row. Reopening a signed-off return unlocks its
        questionnaires in the same transaction (`QuestionnaireUnlocked` on each stream); the
        sign-off locked them (`application.sign_off`)."""
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
            state.cycle, state.organisation_id, state.version, state.extension_until,
            state.reopened, state.signed_off_at, state.signed_off_by, sign_offs, at,
        )  # fmt: skip
        reopened = [e for e in events if isinstance(e, ReturnReopened)]
        if reopened and state.signed_off_at is None:
            unlocks = [
                StreamAppend(q.stream_id, q.version, [NewEvent.from_payload(e) for e in evs])
                for q in await current_of_return(conn, state.cycle, state.organisation_id)
                if (evs := unlock(q, reopened[-1].reason))
            ]
            await self.store.append_many_with(conn, unlocks, context)
        return state

    async def returns(self, cycle: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM returns WHERE cycle = $1 ORDER BY organisation_id", cycle
        )
        return [dict(r) for r in rows]
