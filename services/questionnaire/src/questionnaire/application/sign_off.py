"""An organisation's return for a cycle: where it stands, and signing it off.

Sign-off runs in one transaction that reads every questionnaire of the return as its stream
stands, checks all are submitted, and appends `QuestionnaireLocked` to each stream at the
version it read. A save or a withdrawal decided from an earlier version then fails the store's
version check (and is told the return was signed off), and one that slipped in first makes the
sign-off fail instead: nothing changes between the check and the sign-off, and nothing after.
`CycleSignedOff` carries what a regulator needs (NI 51 per area, counts, the hash at the head
of each of the return's streams) and goes to the public sign-off topic as well.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from csm_contracts.auth import Role
from csm_contracts.events import NI51AreaScore
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_kernel.auth import Principal, ensure_can_see
from csm_kernel.clock import Clock
from csm_kernel.errors import ConcurrencyConflict, Conflict, Forbidden, NotFound
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.postgres import StreamAppend

from ..adapters.cycles_pg import PostgresCycles, return_stream
from ..adapters.questionnaires_pg import current_of_return
from ..adapters.snapshots_pg import Snapshots
from ..domain import answers as rules
from ..domain import questionnaire as decide
from ..domain.cycle import ensure_open_for_entry, entry_ends
from ..domain.definition import DefinitionKind
from ..domain.errors import ReturnLocked
from ..domain.questionnaire import Questionnaire, Status, evolve, stream_id_for
from .catalogue import DefinitionCatalogue


class Returns:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cycles: PostgresCycles,
        catalogue: DefinitionCatalogue,
        clock: Clock,
        snapshots: Snapshots | None = None,
    ) -> None:
        self.pool = pool
        self.cycles = cycles
        self.catalogue = catalogue
        self.clock = clock
        self.snapshots = snapshots

    async def status(
        self, principal: Principal, cycle: str, organisation_id: str
    ) -> dict[str, Any]:
        """What the organisation owes, what is done, and whether it can be signed off."""
        ensure_can_see(principal, organisation_id)
        state = await self.cycles.get(cycle)
        ret = await self.cycles.load_return(cycle, organisation_id)
        async with self.pool.acquire() as conn:
            owed = await current_of_return(conn, cycle, organisation_id)
        live = [q for q in owed if q.status is not Status.CANCELLED]
        counts: dict[str, int] = {}
        for q in live:
            counts[q.status.value] = counts.get(q.status.value, 0) + 1
        outstanding = [
            {"id": q.id, "title": q.title, "status": q.status.value}
            for q in live
            if q.status is not Status.SUBMITTED
        ]
        now = self.clock.now()
        return {
            "cycle": cycle,
            "organisation_id": organisation_id,
            "phase": state.phase.value,
            "deadline": state.timetable.data_entry_closes.isoformat(),
            "entry_ends": entry_ends(state, ret).isoformat(),
            "days_to_deadline": (entry_ends(state, ret) - now).days,
            "extension_until": ret.extension_until.isoformat() if ret.extension_until else None,
            "reopened": ret.reopened,
            "signed_off_at": ret.signed_off_at.isoformat() if ret.signed_off_at else None,
            "signed_off_by": ret.signed_off_by,
            "questionnaires_issued": len(live),
            "by_status": counts,
            "outstanding": outstanding,
            "ni51": [s.model_dump() for s in self._ni51(live)],
            "can_sign_off": bool(live) and not outstanding and ret.signed_off_at is None,
        }

    def _ni51(self, questionnaires: list[Questionnaire]) -> list[NI51AreaScore]:
        scores = []
        for q in questionnaires:
            definition = self.catalogue.get(q.definition)
            if definition.kind is DefinitionKind.CAMHS_PARTNERSHIP:
                score = rules.ni51(definition, q.subject_id, q.answers)
                if score is not None:
                    scores.append(score)
        return sorted(scores, key=lambda s: s.area)

    async def sign_off(
        self, principal: Principal, cycle: str, organisation_id: str, context: AppendContext
    ) -> CycleSignedOff:
        if not principal.has(Role.MAPPING_LEAD) or principal.organisation_id != organisation_id:
            if principal.has(Role.MAPPING_LEAD):
                raise NotFound(f"no organisation {organisation_id}")
            raise Forbidden("only the organisation's mapping lead signs off its return")
        state = await self.cycles.get(cycle)
        now = self.clock.now()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                ret = await self.cycles.load_return(cycle, organisation_id, conn)
                if ret.signed_off_at is not None:
                    raise ReturnLocked(
                        f"{organisation_id}'s {cycle} return was already signed off at "
                        f"{ret.signed_off_at.isoformat()}"
                    )
                ensure_open_for_entry(state, ret, now)
                questionnaires = [
                    q
                    for q in await current_of_return(conn, cycle, organisation_id)
                    if q.status is not Status.CANCELLED
                ]
                if not questionnaires:
                    raise Conflict(f"{organisation_id} owes no questionnaires in {cycle} yet")
                outstanding = [q for q in questionnaires if q.status is not Status.SUBMITTED]
                if outstanding:
                    raise Conflict(
                        f"{len(outstanding)} questionnaire(s) not submitted yet",
                        details=[{"field": q.id, "reason": f"{q.title}: {q.status.value}"}
                                 for q in outstanding],
                    )  # fmt: skip
                # Everything read before the first append: from it until commit this
                # transaction holds the store's position lock, which every save waits for.
                name = await conn.fetchval(
                    "SELECT name FROM known_organisations WHERE code = $1", organisation_id
                )
                supersedes = await self._last_sign_off(conn, cycle, organisation_id)
                answers = sum(
                    rules.answer_count(self.catalogue.get(q.definition), q.answers)
                    for q in questionnaires
                )
                locks = [(q, decide.lock(q, now, principal.actor)) for q in questionnaires]
                await self.cycles.store.append_many_with(
                    conn,
                    [StreamAppend(q.stream_id, q.version, [NewEvent.from_payload(e) for e in evs])
                     for q, evs in locks],
                    context,
                )  # fmt: skip
                locked = [_after(q, evs, now) for q, evs in locks]
                streams = [stream_id_for(q.id) for q in questionnaires]
                streams.append(return_stream(cycle, organisation_id))
                heads = await conn.fetch(
                    "SELECT DISTINCT ON (stream_id) stream_id, hash FROM events "
                    "WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version DESC",
                    streams,
                )
                event = CycleSignedOff(
                    organisation_id=organisation_id,
                    cycle=cycle,
                    signed_off_at=now,
                    signed_off_by=principal.actor,
                    questionnaires_submitted=len(questionnaires),
                    questionnaires_issued=len(questionnaires),
                    answers_count=answers,
                    ni51=self._ni51(questionnaires),
                    stream_heads={r["stream_id"]: r["hash"] for r in heads},
                    supersedes=supersedes,
                    organisation_name=name,
                )
                await self.cycles.append_return(conn, ret, [event], context, now)
        except ConcurrencyConflict:
            raise Conflict(f"{organisation_id}'s {cycle} return changed meanwhile; "
                           "try again") from None  # fmt: skip
        if self.snapshots is not None:
            for q in locked:
                self.snapshots.remember(q)
        return event

    async def _last_sign_off(self, conn: Any, cycle: str, organisation_id: str) -> Any:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE stream_id = $1 AND type = $2 "
            "ORDER BY stream_version DESC LIMIT 1",
            return_stream(cycle, organisation_id),
            CycleSignedOff.EVENT_TYPE,
        )
        if data is None:
            return None
        return json.loads(data)["signed_off_at"]


def _after(q: Questionnaire, events: list[Any], at: Any) -> Questionnaire:
    for e in events:
        q = evolve(q, e, at)
    return q
