"""Questionnaire instances in PostgreSQL: the event store (the truth) and the `questionnaires`
snapshot rows a save starts from, written in one transaction.

A save updates the row first, `WHERE version = <the version decided from> AND NOT locked`:
that row lock is the concurrency check and the sign-off guard at once, and it is taken before
the event store's position lock, which is then held only for the append and the commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.cycles import Phase, Timetable
from csm_contracts.events.questionnaire import QuestionnaireDelegated
from csm_contracts.events.responses import AnswersSaved, SubjectKind
from csm_contracts.registry import EventPayload, payload_class
from csm_kernel.database import Connection
from csm_kernel.errors import ConcurrencyConflict, NotFound
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore

from ..domain.cycle import CycleState, ReturnState
from ..domain.errors import ReturnLocked
from ..domain.questionnaire import (
    Delegation,
    DelegationStatus,
    Questionnaire,
    Status,
    evolve,
    stream_id_for,
)

_LOAD = """
SELECT q.*, c.version AS cycle_version, c.phase, c.timetable, c.previous_cycle,
       r.version AS return_version, r.extension_until, r.reopened, r.signed_off_at,
       r.signed_off_by
  FROM questionnaires q
  JOIN cycles c ON c.cycle = q.cycle
  LEFT JOIN returns r ON r.cycle = q.cycle AND r.organisation_id = q.organisation_id
 WHERE q.id = $1
"""

_UPDATE = """
UPDATE questionnaires
   SET version = $3, status = $4, answers = $5::jsonb, delegation = $6::jsonb,
       submitted_at = $7, submitted_by = $8, updated_at = now()
 WHERE id = $1 AND version = $2 AND NOT locked
"""

_INSERT = """
INSERT INTO questionnaires (id, cycle, organisation_id, group_id, definition, title,
                            subject_kind, subject_id, status, version, locked, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::int[], $11::bool[],
                     $12::timestamptz[])
ON CONFLICT (id) DO NOTHING
"""


@dataclass(frozen=True)
class Loaded:
    """A questionnaire with the cycle and return it belongs to, read together."""

    questionnaire: Questionnaire
    cycle: CycleState
    ret: ReturnState


def questionnaire_from_row(row: asyncpg.Record) -> Questionnaire:
    delegation = json.loads(row["delegation"]) if row["delegation"] else None
    return Questionnaire(
        id=row["id"],
        cycle=row["cycle"],
        organisation_id=row["organisation_id"],
        definition=row["definition"],
        title=row["title"],
        subject_kind=SubjectKind(row["subject_kind"]),
        subject_id=row["subject_id"],
        group_id=row["group_id"],
        version=row["version"],
        status=Status(row["status"]),
        answers=json.loads(row["answers"]),
        delegation=Delegation.from_json(delegation) if delegation else None,
        submitted_at=row["submitted_at"],
        submitted_by=row["submitted_by"],
    )


def cycle_from_row(row: asyncpg.Record, prefix: str = "") -> CycleState:
    return CycleState(
        cycle=row["cycle"],
        version=row[f"{prefix}version"],
        phase=Phase(row["phase"]),
        timetable=Timetable.model_validate_json(row["timetable"]),
        previous_cycle=row["previous_cycle"],
    )


def return_from_row(row: asyncpg.Record | None, cycle: str, organisation_id: str) -> ReturnState:
    if row is None or row["return_version"] is None:
        return ReturnState(cycle, organisation_id)
    return ReturnState(
        cycle=cycle,
        organisation_id=organisation_id,
        version=row["return_version"],
        extension_until=row["extension_until"],
        reopened=row["reopened"],
        signed_off_at=row["signed_off_at"],
        signed_off_by=row["signed_off_by"],
    )


def issue_row(q: Questionnaire, locked: bool, at: datetime) -> tuple[Any, ...]:
    return (q.id, q.cycle, q.organisation_id, q.group_id, q.definition, q.title,
            q.subject_kind.value, q.subject_id, q.status.value, q.version, locked, at)  # fmt: skip


async def insert_rows(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert issued questionnaires' rows (as `issue_row` makes them), in one round trip."""
    if rows:
        await conn.execute(_INSERT, *(list(column) for column in zip(*rows, strict=True)))


class PostgresQuestionnaires:
    """The questionnaire repository over the service's own database."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore) -> None:
        self.pool = pool
        self.store = store

    async def load(self, questionnaire_id: str, conn: Connection | None = None) -> Loaded:
        row = await (conn or self.pool).fetchrow(_LOAD, questionnaire_id)
        if row is None:
            raise NotFound(f"no questionnaire {questionnaire_id}")
        q = questionnaire_from_row(row)
        return Loaded(
            q, cycle_from_row(row, "cycle_"), return_from_row(row, q.cycle, q.organisation_id)
        )

    async def save(
        self,
        before: Questionnaire,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
        conn: Connection | None = None,
    ) -> tuple[Questionnaire, list[EventEnvelope]]:
        """Append `events` at `before.version` and move the row with them (on `conn`, inside
        the caller's transaction, when given).

        `ConcurrencyConflict` if someone else changed it first; `ReturnLocked` if the return was
        signed off meanwhile."""
        if conn is not None:
            async with conn.transaction():
                return await self._save(conn, before, events, context, at)
        async with self.pool.acquire() as own, own.transaction():
            return await self._save(own, before, events, context, at)

    async def _save(
        self,
        conn: Connection,
        before: Questionnaire,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> tuple[Questionnaire, list[EventEnvelope]]:
        after = before
        for event in events:
            after = evolve(after, event, at)
        status = await conn.execute(
            _UPDATE,
            before.id,
            before.version,
            after.version,
            after.status.value,
            json.dumps(after.answers),
            json.dumps(after.delegation.as_json()) if after.delegation else None,
            after.submitted_at,
            after.submitted_by,
        )
        if status != "UPDATE 1":
            await self._why_not_saved(conn, before)
        stored = await self.store.append_with(
            conn,
            before.stream_id,
            before.version,
            [NewEvent.from_payload(e) for e in events],
            context,
        )
        await self._delegation_rows(conn, events, context, at)
        return after, stored

    async def _why_not_saved(self, conn: Connection, before: Questionnaire) -> None:
        row = await conn.fetchrow(
            "SELECT version, locked FROM questionnaires WHERE id = $1", before.id
        )
        if row is not None and row["locked"]:
            raise ReturnLocked(
                f"{before.organisation_id}'s {before.cycle} return has been signed off; "
                "only the national team can reopen it"
            )
        raise ConcurrencyConflict(before.stream_id, before.version, row["version"] if row else None)

    async def _delegation_rows(
        self, conn: Connection, events: Sequence[EventPayload], context: AppendContext, at: datetime
    ) -> None:
        for event in events:
            if isinstance(event, QuestionnaireDelegated):
                await conn.execute(
                    "INSERT INTO delegations (id, questionnaire_id, email, status, expires_at, "
                    "delegated_by, created_at) VALUES ($1, $2, $3, 'active', $4, $5, $6)",
                    event.delegation_id, event.questionnaire_id, str(event.delegate_email),
                    event.expires_at, context.actor, at,
                )  # fmt: skip
            elif (delegation_id := getattr(event, "delegation_id", None)) and not isinstance(
                event, AnswersSaved
            ):
                status = _DELEGATION_STATUS.get(event.EVENT_TYPE)
                if status is not None:
                    ended = at if status in ("revoked", "accepted") else None
                    await conn.execute(
                        "UPDATE delegations SET status = $2, ended_at = $3 WHERE id = $1",
                        delegation_id, status, ended,
                    )  # fmt: skip

    async def delegation(self, delegation_id: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow("SELECT * FROM delegations WHERE id = $1", delegation_id)

    async def delegations(self, questionnaire_id: str) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM delegations WHERE questionnaire_id = $1 ORDER BY created_at",
                questionnaire_id,
            )
        )

    async def events(self, questionnaire_id: str, after_version: int = 0) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id_for(questionnaire_id), after_version)

    async def list(
        self, cycle: str | None, organisation_id: str | None, group_id: str | None
    ) -> list[Questionnaire]:
        rows = await self.pool.fetch(
            "SELECT * FROM questionnaires WHERE ($1::text IS NULL OR cycle = $1) "
            "AND ($2::text IS NULL OR organisation_id = $2) "
            "AND ($3::text IS NULL OR group_id = $3) "
            "ORDER BY cycle, organisation_id, definition, title, id LIMIT 5000",
            cycle,
            organisation_id,
            group_id,
        )
        return [questionnaire_from_row(r) for r in rows]


_DELEGATION_STATUS = {
    "questionnaire.DelegationRevoked": DelegationStatus.REVOKED.value,
    "questionnaire.QuestionnaireReturned": DelegationStatus.RETURNED.value,
    "questionnaire.DelegationAccepted": DelegationStatus.ACCEPTED.value,
    "questionnaire.QuestionnaireSentBack": DelegationStatus.ACTIVE.value,
}


def payload_of(envelope: EventEnvelope) -> EventPayload:
    return payload_class(envelope.type, envelope.version).model_validate(envelope.data)
