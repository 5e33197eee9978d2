"""An organisation's return for a cycle: where it stands, and signing it off.

Sign-off runs in one transaction that reads every questionnaire of the return as its stream
stands, lets the domain decide (`domain.sign_off`: all submitted, data entry open, not signed
off yet), and appends `QuestionnaireLocked` to each stream at the version it read. A save or a
withdrawal decided from an earlier version then fails the store's version check (and is told
the return was signed off), and one that slipped in first makes the sign-off fail instead:
nothing changes between the check and the sign-off, and nothing after. `CycleSignedOff`
carries what a regulator needs (NI 51 per area, counts, the hash at the head of each of the
return's streams) and goes to the public sign-off topic as well.
"""

from __future__ import annotations

from typing import Any

from csm_contracts.auth import Role
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_kernel.auth import Principal, ensure_can_see
from csm_kernel.clock import Clock
from csm_kernel.errors import ConcurrencyConflict, Conflict, Forbidden, NotFound
from csm_kernel.store import AppendContext

from ..domain.cycle import entry_ends
from ..domain.questionnaire import Status
from ..domain.sign_off import decide_sign_off, live, ni51_scores
from .catalogue import DefinitionCatalogue
from .ports import (
    Activity,
    CycleRepository,
    QuestionnaireRepository,
    Registry,
    Transactions,
    Uncounted,
)


class Returns:
    def __init__(
        self,
        transactions: Transactions,
        cycles: CycleRepository,
        questionnaires: QuestionnaireRepository,
        registry: Registry,
        catalogue: DefinitionCatalogue,
        clock: Clock,
        activity: Activity | None = None,
    ) -> None:
        self.transactions = transactions
        self.cycles = cycles
        self.questionnaires = questionnaires
        self.registry = registry
        self.catalogue = catalogue
        self.clock = clock
        self.activity: Activity = activity or Uncounted()

    async def status(
        self, principal: Principal, cycle: str, organisation_id: str
    ) -> dict[str, Any]:
        """What the organisation owes, what is done, and whether it can be signed off."""
        ensure_can_see(principal, organisation_id)
        state = await self.cycles.get(cycle)
        ret = await self.cycles.load_return(cycle, organisation_id)
        owed = live(await self.questionnaires.of_return(cycle, organisation_id))
        counts: dict[str, int] = {}
        for q in owed:
            counts[q.status.value] = counts.get(q.status.value, 0) + 1
        outstanding = [
            {"id": q.id, "title": q.title, "status": q.status.value}
            for q in owed
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
            "questionnaires_issued": len(owed),
            "by_status": counts,
            "outstanding": outstanding,
            "ni51": [s.model_dump() for s in ni51_scores(owed, self.catalogue.get)],
            "can_sign_off": bool(owed) and not outstanding and ret.signed_off_at is None,
        }

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
            async with self.transactions.transaction() as conn:
                ret = await self.cycles.load_return(cycle, organisation_id, conn)
                questionnaires = await self.questionnaires.of_return(cycle, organisation_id, conn)
                # Everything read before the first append: from it until commit this
                # transaction holds the store's position lock, which every save waits for.
                decided = decide_sign_off(
                    state,
                    ret,
                    questionnaires,
                    self.catalogue.get,
                    now=now,
                    by=principal.actor,
                    organisation_name=await self.registry.name_of(conn, organisation_id),
                    supersedes=await self.cycles.last_sign_off(conn, cycle, organisation_id),
                )
                await self.questionnaires.append_many(conn, decided.locks, context)
                heads = await self.cycles.stream_heads(conn, decided.streams)
                event = decided.event(heads)
                await self.cycles.append_return(conn, ret, [event], context, now)
        except ConcurrencyConflict:
            raise Conflict(
                f"{organisation_id}'s {cycle} return changed meanwhile; try again"
            ) from None
        self.activity.signed_off()  # the transaction committed
        self.questionnaires.remember(decided.locked())
        return event
