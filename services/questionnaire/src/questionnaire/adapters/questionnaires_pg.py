"""Questionnaire instances in PostgreSQL: the event store (the truth) and the `questionnaires`
rows, a snapshot cache of the streams (see `snapshots_pg`).

Every read takes a row together with its stream's events after the row's version (the tail,
in the same statement: the hot path's one round trip) and folds them over it through the
kernel's `EventSourcedRepository.fold_rows` (decoded through the contract's upcasters), so a
lagging row never shows stale state. The stream
version is the only concurrency token: a save appends at the version it decided from and the
store refuses it if anything came between, a sign-off's `QuestionnaireLocked` included.

Saving answers, the hot path, is a bare append through the store's group commit (many saves
share one durable commit). The rarer changes (delegation, submission, cancelling) also write
their side rows, so they run in a transaction that moves the row first and appends second:
whoever holds the store's position lock never waits for a row lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.questionnaire import QuestionnaireDelegated
from csm_contracts.events.responses import (
    AnswersSavedV2,
    QuestionnaireIssued,
    QuestionnaireUnlocked,
    SubjectKind,
)
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import ConcurrencyConflict, NotFound
from csm_kernel.event_sourcing import EventSourcedRepository
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import PostgresEventStore, StreamAppend
from csm_kernel.text import scrub_text, storable_json

from ..application.ports import DelegationRecord, Loaded
from ..domain.errors import ReturnLocked
from ..domain.questionnaire import (
    Delegation,
    DelegationStatus,
    Questionnaire,
    Status,
    evolve,
    evolve_recorded,
    issued,
    stream_id_for,
)
from .cycles_pg import cycle_from_row, return_from_row
from .snapshots_pg import Snapshots

#: The stream's events after the row's version, oldest first, as one JSON array (NULL: none).
TAIL = (
    "(SELECT json_agg(json_build_array(e.type, e.version, e.occurred_at, e.data) "
    "ORDER BY e.stream_version) FROM events e "
    "WHERE e.stream_id = 'questionnaire-' || q.id AND e.stream_version > q.version) AS tail"
)

_LOAD = f"""
SELECT q.*, {TAIL}, c.version AS cycle_version, c.phase, c.timetable, c.previous_cycle,
       r.version AS return_version, r.extension_until, r.reopened, r.signed_off_at,
       r.signed_off_by, o.name AS organisation_name
  FROM questionnaires q
  JOIN cycles c ON c.cycle = q.cycle
  LEFT JOIN returns r ON r.cycle = q.cycle AND r.organisation_id = q.organisation_id
  LEFT JOIN known_organisations o ON o.code = q.organisation_id
 WHERE q.id = $1
"""

_UPDATE = """
UPDATE questionnaires
   SET version = $2, status = $3, answers = $4::jsonb, delegation = $5::jsonb,
       submitted_at = $6, submitted_by = $7, locked = $8, updated_at = now()
 WHERE id = $1 AND version < $2
"""

_INSERT = """
INSERT INTO questionnaires (id, cycle, organisation_id, group_id, definition, title,
                            subject_kind, subject_id, status, version, locked, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::int[], $11::bool[],
                     $12::timestamptz[])
ON CONFLICT (id) DO NOTHING
"""


def questionnaire_from_row(row: asyncpg.Record) -> Questionnaire:
    # orjson: ~8 µs for a self-assessment's 44 answers where json.loads took ~50, on every read.
    delegation = orjson.loads(row["delegation"]) if row["delegation"] else None
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
        answers=orjson.loads(row["answers"]),
        delegation=Delegation.from_json(delegation) if delegation else None,
        submitted_at=row["submitted_at"],
        submitted_by=row["submitted_by"],
        locked=row["locked"],
    )


_OF_RETURN = f"""
SELECT q.*, {TAIL} FROM questionnaires q WHERE q.cycle = $1 AND q.organisation_id = $2
 ORDER BY q.definition, q.title, q.id
"""

_ONE = f"SELECT q.*, {TAIL} FROM questionnaires q WHERE q.id = $1"

_LIST = f"""
SELECT q.*, {TAIL} FROM questionnaires q
 WHERE ($1::text IS NULL OR q.cycle = $1) AND ($2::text IS NULL OR q.organisation_id = $2)
   AND ($3::text IS NULL OR q.group_id = $3)
 ORDER BY q.cycle, q.organisation_id, q.definition, q.title, q.id LIMIT 5000
"""

_DELEGATION = (
    "SELECT id, questionnaire_id, email, status, expires_at, delegated_by, created_at, ended_at "
    "FROM delegations"
)


class PostgresQuestionnaires:
    """The questionnaire repository over the service's own database
    (`application.ports.QuestionnaireRepository`)."""

    def __init__(
        self, pool: asyncpg.Pool, store: PostgresEventStore, snapshots: Snapshots | None = None
    ) -> None:
        self.pool = pool
        self.store = store
        self.snapshots = snapshots or Snapshots(pool)
        #: Decodes through the contract's upcasters, folds over `evolve_recorded`, appends.
        self.streams = EventSourcedRepository(store, evolve_recorded, kind="questionnaire")

    def _current(self, row: asyncpg.Record) -> Questionnaire:
        """The current state from a row selected with the `TAIL` column: the row (a snapshot)
        with its stream's later events folded in."""
        q = questionnaire_from_row(row)
        tail = row["tail"]
        if tail is None:
            return q
        state = self.streams.fold_rows(q, q.stream_id, q.version, orjson.loads(tail))
        assert state is not None
        return state

    async def load(self, questionnaire_id: str, conn: Connection | None = None) -> Loaded:
        row = await (conn or self.pool).fetchrow(_LOAD, questionnaire_id)
        if row is None:
            raise NotFound(f"no questionnaire {questionnaire_id}")
        q = self._current(row)
        if row["tail"] is not None and conn is None:  # committed: worth a fresh row
            self.snapshots.remember(q)
        return Loaded(
            q,
            cycle_from_row(row, "cycle_"),
            return_from_row(row, q.cycle, q.organisation_id, "return_"),
            row["organisation_name"],
        )

    async def find(self, questionnaire_id: str, conn: Connection) -> Questionnaire | None:
        row = await conn.fetchrow(_ONE, questionnaire_id)
        return self._current(row) if row is not None else None

    async def of_return(
        self, cycle: str, organisation_id: str, conn: Connection | None = None
    ) -> list[Questionnaire]:
        rows = await (conn or self.pool).fetch(_OF_RETURN, cycle, organisation_id)
        return [self._current(r) for r in rows]

    async def search(
        self, cycle: str | None, organisation_id: str | None, group_id: str | None
    ) -> list[Questionnaire]:
        rows = await self.pool.fetch(_LIST, cycle, organisation_id, group_id)
        out = []
        for row in rows:
            out.append(self._current(row))
            if row["tail"] is not None:
                self.snapshots.remember(out[-1])
        return out

    async def save(
        self,
        before: Questionnaire,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
        conn: Connection | None = None,
    ) -> tuple[Questionnaire, list[EventEnvelope]]:
        """Append `events` at `before.version` (on `conn`, inside the caller's transaction,
        when given).

        `ConcurrencyConflict` if someone else changed it first; `ReturnLocked` if the return is
        or was meanwhile signed off."""
        if before.locked and not all(isinstance(e, QuestionnaireUnlocked) for e in events):
            raise _locked(before)
        after = before
        for event in events:
            after = evolve(after, event, at)
        try:
            if conn is not None:
                async with conn.transaction():
                    stored = await self._save_with_row(conn, before, after, events, context, at)
            elif all(isinstance(e, AnswersSavedV2) for e in events):
                stored = await self.streams.save(before, events, context)
                self.snapshots.remember(after)
            else:
                async with self.pool.acquire() as own, own.transaction():
                    stored = await self._save_with_row(own, before, after, events, context, at)
        except ConcurrencyConflict:
            await self._why_not_saved(before, conn)
            raise
        return after, stored

    async def append_many(
        self,
        conn: Connection,
        changes: Sequence[tuple[Questionnaire, Sequence[EventPayload]]],
        context: AppendContext,
    ) -> None:
        """The events alone, one round trip for all (the rows catch up through the tail)."""
        appends = [
            StreamAppend(q.stream_id, q.version, [NewEvent.from_payload(e) for e in events])
            for q, events in changes
            if events
        ]
        await self.store.append_many_with(conn, appends, context)

    def remember(self, questionnaires: Sequence[Questionnaire]) -> None:
        for q in questionnaires:
            self.snapshots.remember(q)

    async def issue(
        self,
        conn: Connection,
        events: Mapping[str, QuestionnaireIssued],
        context: AppendContext,
        at: datetime,
    ) -> int:
        """Start the streams not started yet, and their rows; how many (idempotent: an append
        at version 0 to a stream that exists is refused by the store and skipped here)."""
        if not events:
            return 0
        existing = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM questionnaires WHERE id = ANY($1::text[])", list(events)
            )
        }
        new = [e for qid, e in events.items() if qid not in existing]
        issued_count = 0
        for start in range(0, len(new), 1000):
            chunk = new[start : start + 1000]
            prepared = self.store.prepare_many(
                [
                    StreamAppend(stream_id_for(e.questionnaire_id), 0, [NewEvent.from_payload(e)])
                    for e in chunk
                ],
                context,
            )
            written = await self.store.write_prepared(conn, prepared)
            rows = [_issue_row(issued(e), at) for e, ok in zip(chunk, written, strict=True) if ok]
            if rows:
                await conn.execute(_INSERT, *(list(column) for column in zip(*rows, strict=True)))
            issued_count += len(rows)
        return issued_count

    async def _save_with_row(
        self,
        conn: Connection,
        before: Questionnaire,
        after: Questionnaire,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> list[EventEnvelope]:
        # The row first, the append second (see the module docstring). The row is a cache: its
        # update may find it already newer, and the append alone decides.
        await conn.execute(
            _UPDATE,
            after.id,
            after.version,
            after.status.value,
            storable_json(after.answers),
            storable_json(after.delegation.as_json()) if after.delegation else None,
            after.submitted_at,
            scrub_text(after.submitted_by) if after.submitted_by else None,
            after.locked,
        )
        stored = await self.streams.save(before, events, context, conn)
        await self._delegation_rows(conn, events, context, at)
        return stored

    async def _why_not_saved(self, before: Questionnaire, conn: Connection | None) -> None:
        """`ReturnLocked` if what came between was a sign-off (else the conflict stands)."""
        row = await (conn or self.pool).fetchrow(_ONE, before.id)
        if row is not None and self._current(row).locked:
            raise _locked(before)

    async def _delegation_rows(
        self, conn: Connection, events: Sequence[EventPayload], context: AppendContext, at: datetime
    ) -> None:
        for event in events:
            if isinstance(event, QuestionnaireDelegated):
                await conn.execute(
                    "INSERT INTO delegations (id, questionnaire_id, email, status, expires_at, "
                    "delegated_by, created_at) VALUES ($1, $2, $3, 'active', $4, $5, $6)",
                    event.delegation_id,
                    event.questionnaire_id,
                    str(event.delegate_email),
                    event.expires_at,
                    context.actor,
                    at,
                )
            elif (delegation_id := getattr(event, "delegation_id", None)) and not isinstance(
                event, AnswersSavedV2
            ):
                status = _DELEGATION_STATUS.get(event.EVENT_TYPE)
                if status is not None:
                    ended = at if status in ("revoked", "accepted") else None
                    await conn.execute(
                        "UPDATE delegations SET status = $2, ended_at = $3 WHERE id = $1",
                        delegation_id,
                        status,
                        ended,
                    )

    async def delegation(self, delegation_id: str) -> DelegationRecord | None:
        row = await self.pool.fetchrow(f"{_DELEGATION} WHERE id = $1", delegation_id)
        return DelegationRecord(**dict(row)) if row is not None else None

    async def delegations(self, questionnaire_id: str) -> list[DelegationRecord]:
        rows = await self.pool.fetch(
            f"{_DELEGATION} WHERE questionnaire_id = $1 ORDER BY created_at", questionnaire_id
        )
        return [DelegationRecord(**dict(r)) for r in rows]

    async def events(self, questionnaire_id: str, after_version: int = 0) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id_for(questionnaire_id), after_version)


def _issue_row(q: Questionnaire, at: datetime) -> tuple[Any, ...]:
    return (
        q.id,
        q.cycle,
        q.organisation_id,
        q.group_id,
        q.definition,
        q.title,
        q.subject_kind.value,
        q.subject_id,
        q.status.value,
        q.version,
        False,
        at,
    )


_DELEGATION_STATUS = {
    "questionnaire.DelegationRevoked": DelegationStatus.REVOKED.value,
    "questionnaire.QuestionnaireReturned": DelegationStatus.RETURNED.value,
    "questionnaire.DelegationAccepted": DelegationStatus.ACCEPTED.value,
    "questionnaire.QuestionnaireSentBack": DelegationStatus.ACTIVE.value,
}


def _locked(q: Questionnaire) -> ReturnLocked:
    return ReturnLocked(
        f"{q.organisation_id}'s {q.cycle} return has been signed off; "
        "only the national team can reopen it"
    )
