"""Running a cycle: schedule it, move its dates, let the clock (or the national team) move it
through its phases, issue what organisations owe when data entry opens, and grant extensions
and reopenings to single organisations."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from opentelemetry.trace import TracerProvider

from csm_contracts.events.cycles import (
    CyclePhaseChanged,
    CycleScheduled,
    CycleTimetableChanged,
    ExtensionGranted,
    Phase,
    ReturnReopened,
    SignOffWithdrawn,
    Timetable,
)
from csm_contracts.events.questionnaire import CycleOpened
from csm_contracts.registry import EventPayload
from csm_kernel.clock import Clock
from csm_kernel.database import Connection
from csm_kernel.errors import ConcurrencyConflict, Conflict, InvalidInput, NotFound
from csm_kernel.observability import get_logger, traced_work
from csm_kernel.poison import PoisonItems, is_transient
from csm_kernel.store import AppendContext

from ..domain import questionnaire as decide
from ..domain.cycle import ORDER, OWING, CycleState, ReturnState, later, phase_at
from ..domain.owed import Owed, issue_events, owed_by_organisation, owed_for_service
from .catalogue import DefinitionCatalogue
from .ports import CycleRepository, QuestionnaireRepository, Registry, ReturnRecord, Transactions

log = get_logger(__name__)

#: Who the clock's phase changes and issues are attributed to.
CLOCK_ACTOR = "service:questionnaire"


def check_cycle_name(cycle: str, field: str = "cycle") -> None:
    match = re.fullmatch(r"(\d{4})-(\d{2})", cycle)
    if not match or (int(match[1]) + 1) % 100 != int(match[2]):
        raise InvalidInput.field(field, f"{cycle!r} is not a cycle like 2009-10")


class Cycles:
    def __init__(
        self,
        transactions: Transactions,
        repo: CycleRepository,
        questionnaires: QuestionnaireRepository,
        registry: Registry,
        catalogue: DefinitionCatalogue,
        clock: Clock,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.transactions = transactions
        self.repo = repo
        self.questionnaires = questionnaires
        self.registry = registry
        self.catalogue = catalogue
        self.clock = clock
        #: Where a tick that finds work traces it (the global provider unless given).
        self.tracer_provider = tracer_provider
        #: A cycle the clock cannot move or issue for a reason of its own (not a lost
        #: connection) is tried on a few ticks, then set aside until a restart, logged and
        #: counted, so that it neither holds the other cycles up nor is retried for ever.
        self.poison = PoisonItems("cycle clock", attempts=5)
        self._set_aside: set[tuple[str, str]] = set()

    async def schedule(
        self, cycle: str, previous_cycle: str | None, timetable: Timetable, context: AppendContext
    ) -> CycleState:
        check_cycle_name(cycle)
        if previous_cycle is not None:
            check_cycle_name(previous_cycle, "previous_cycle")
            if previous_cycle >= cycle:
                raise InvalidInput.field("previous_cycle", "must come before the cycle")
        event = CycleScheduled(cycle=cycle, previous_cycle=previous_cycle, timetable=timetable)
        try:
            async with self.transactions.transaction() as conn:
                await self.repo.append(conn, None, cycle, [event], context, self.clock.now())
        except ConcurrencyConflict:
            raise Conflict(f"cycle {cycle} is already scheduled") from None
        log.info("cycle scheduled", cycle=cycle)
        await self.tick()
        return await self.repo.get(cycle)

    async def change_timetable(
        self,
        cycle: str,
        expected_version: int,
        timetable: Timetable,
        reason: str,
        context: AppendContext,
    ) -> CycleState:
        state = await self.repo.get(cycle)
        if state.version != expected_version:
            raise Conflict(
                f"cycle {cycle} changed since version {expected_version} (it is at "
                f"{state.version}); reload it"
            )
        now = self.clock.now()
        if later(state.phase, phase_at(timetable, now)):
            raise InvalidInput.field(
                "timetable",
                f"{cycle} is already in phase {state.phase.value}; a phase never goes back "
                "(grant extensions or reopen returns instead)",
            )
        event = CycleTimetableChanged(
            cycle=cycle, old_timetable=state.timetable, new_timetable=timetable, reason=reason
        )
        try:
            async with self.transactions.transaction() as conn:
                await self.repo.append(conn, state, cycle, [event], context, now)
        except ConcurrencyConflict:
            raise Conflict(f"cycle {cycle} changed meanwhile; reload it") from None
        await self.tick()
        return await self.repo.get(cycle)

    async def advance(
        self, cycle: str, phase: Phase, reason: str, context: AppendContext
    ) -> CycleState:
        """National action: move a cycle on to `phase` now, ahead of its timetable."""
        state = await self.repo.get(cycle)
        if not later(phase, state.phase):
            raise InvalidInput.field(
                "phase", f"{cycle} is in {state.phase.value}; a phase can only move forward"
            )
        await self._move(state, phase, by_clock=False, reason=reason, context=context)
        await self.issue_owed(cycle)
        return await self.repo.get(cycle)

    async def tick(self) -> int:
        """Move every cycle to the phase its timetable gives now, then issue what is owed.
        Idempotent: the clock loop calls it every few seconds. Returns phase changes made.

        A tick that finds something to do is traced (`cycle-clock`, its queries inside); one
        that finds nothing, nearly all of them, makes no span."""
        now = self.clock.now()
        due = [
            (state, target)
            for state in await self.repo.all()
            if later(target := phase_at(state.timetable, now), state.phase)
            and ("move", state.cycle) not in self._set_aside
        ]
        if due:
            with traced_work(
                "cycle-clock", self.tracer_provider, **{"csm.cycle_clock.moves": len(due)}
            ):
                moved = await self._move_due(due)
                await self._issue_owed_all(await self._to_issue())
            return moved
        to_issue = await self._to_issue()
        if to_issue:
            with traced_work(
                "cycle-clock", self.tracer_provider, **{"csm.cycle_clock.issues": len(to_issue)}
            ):
                await self._issue_owed_all(to_issue)
        return 0

    async def _move_due(self, due: list[tuple[CycleState, Phase]]) -> int:
        moved = 0
        for state, target in due:
            context = AppendContext(actor=CLOCK_ACTOR)
            try:
                await self._move(state, target, by_clock=True, reason=None, context=context)
                moved += 1
            except ConcurrencyConflict:
                pass  # someone else moved it: the next tick sees where it is
            except Exception as exc:
                self._failed(("move", state.cycle), exc)
        return moved

    async def _to_issue(self) -> list[str]:
        """Cycles whose owed questionnaires are not all issued, but those set aside."""
        return [c for c in await self.repo.not_issued() if ("issue", c) not in self._set_aside]

    async def _issue_owed_all(self, cycles: list[str]) -> None:
        for cycle in cycles:
            try:
                await self.issue_owed(cycle)
            except Exception as exc:
                self._failed(("issue", cycle), exc)

    def _failed(self, item: tuple[str, str], exc: Exception) -> None:
        """One cycle's step failed: a lost connection ends the tick (the loop retries it);
        anything else lets the other cycles go on, and sets this step aside once poison."""
        if is_transient(exc):
            raise exc
        if self.poison.failed(item, exc):
            self._set_aside.add(item)
        else:
            log.warning(
                "cycle clock step failed; will retry",
                step=item[0],
                cycle=item[1],
                error=f"{type(exc).__name__}: {exc}",
            )

    async def _move(
        self,
        state: CycleState,
        target: Phase,
        *,
        by_clock: bool,
        reason: str | None,
        context: AppendContext,
    ) -> None:
        now = self.clock.now()
        events: list[EventPayload] = []
        current = state.phase
        for phase in ORDER[ORDER.index(current) + 1 : ORDER.index(target) + 1]:
            events.append(
                CyclePhaseChanged(
                    cycle=state.cycle,
                    old_phase=current,
                    phase=phase,
                    changed_at=now,
                    by_clock=by_clock,
                    reason=reason,
                )
            )
            if phase is Phase.DATA_ENTRY:
                events.append(
                    CycleOpened(
                        cycle=state.cycle, previous_cycle=state.previous_cycle, opened_at=now
                    )
                )
            current = phase
        async with self.transactions.transaction() as conn:
            await self.repo.append(conn, state, state.cycle, events, context, now)
        log.info("cycle phase changed", cycle=state.cycle, phase=target.value, by_clock=by_clock)

    async def issue_owed(
        self,
        cycle: str,
        *,
        organisation_id: str | None = None,
        service_id: str | None = None,
        conn: Connection | None = None,
        context: AppendContext | None = None,
    ) -> int:
        """Issue every questionnaire owed in an open cycle (or one organisation's, or one
        service's) that is not issued yet. Whole-cycle runs mark the cycle issued."""
        context = context or AppendContext(actor=CLOCK_ACTOR)
        if conn is not None:
            return await self._issue(conn, cycle, organisation_id, service_id, context)
        async with self.transactions.transaction() as own:
            count = await self._issue(own, cycle, organisation_id, service_id, context)
            if organisation_id is None and service_id is None:
                await self.repo.mark_issued(own, cycle)
        if count:
            log.info("questionnaires issued", cycle=cycle, count=count)
        return count

    async def _issue(
        self,
        conn: Connection,
        cycle: str,
        organisation_id: str | None,
        service_id: str | None,
        context: AppendContext,
    ) -> int:
        # An organisation registered meanwhile is either seen here or sees this cycle open.
        await self.repo.lock_issuing(conn)
        state = await self.repo.find(cycle, conn)
        if state is None or state.phase not in OWING:
            return 0
        owed: list[Owed] = []
        if service_id is None:
            for org in await self.registry.organisations(conn, organisation_id):
                owed.extend(owed_by_organisation(org))
        for service in await self.registry.services(conn, cycle, organisation_id, service_id):
            owed.append(owed_for_service(service))
        events = issue_events(cycle, owed, self.catalogue.latest)
        return await self.questionnaires.issue(conn, events, context, self.clock.now())

    async def get(self, cycle: str) -> CycleState:
        """The cycle, or `NotFound`."""
        return await self.repo.get(cycle)

    async def all(self) -> list[CycleState]:
        return await self.repo.all()

    async def returns(self, cycle: str) -> list[ReturnRecord]:
        """Every organisation's return in the cycle (`NotFound` for an unknown cycle)."""
        await self.repo.get(cycle)
        return await self.repo.returns(cycle)

    async def open_cycles(self, conn: Connection) -> list[str]:
        """Cycles in which questionnaires are owed (data entry opened, not yet published).
        Call it after recording a new organisation or service in `conn`'s transaction: a cycle
        opening meanwhile then either sees that record or is seen open here (without the lock,
        each could miss the other and the organisation never be issued its questionnaires)."""
        await self.repo.lock_issuing(conn)
        return await self.repo.owing(conn)

    # --- one organisation's return ---------------------------------------------------------

    async def grant_extension(
        self,
        cycle: str,
        organisation_id: str,
        until: datetime,
        reason: str,
        context: AppendContext,
    ) -> ReturnState:
        state = await self.repo.get(cycle)
        await self._known(organisation_id)
        if until <= state.timetable.data_entry_closes:
            raise InvalidInput.field(
                "until",
                f"an extension ends after the close "
                f"({state.timetable.data_entry_closes.isoformat()})",
            )
        if until >= state.timetable.publication:
            raise InvalidInput.field("until", "an extension ends before publication")
        event = ExtensionGranted(
            organisation_id=organisation_id, cycle=cycle, until=until, reason=reason
        )

        async def extend(conn: Connection, ret: ReturnState) -> list[EventPayload]:
            return [event]

        return await self._append_return(cycle, organisation_id, extend, context)

    async def reopen(
        self, cycle: str, organisation_id: str, reason: str, context: AppendContext
    ) -> ReturnState:
        """Reopen the organisation's return. A signed-off return's sign-off is withdrawn in
        the same transaction (`SignOffWithdrawn`, published on the public sign-off topic too),
        so a regulator holding the sign-off learns that it no longer stands."""
        await self.repo.get(cycle)
        await self._known(organisation_id)

        async def reopen(conn: Connection, ret: ReturnState) -> list[EventPayload]:
            if ret.reopened and ret.signed_off_at is None:
                raise Conflict(f"{organisation_id}'s {cycle} return is already reopened")
            events: list[EventPayload] = [
                ReturnReopened(
                    organisation_id=organisation_id,
                    cycle=cycle,
                    reason=reason,
                    was_signed_off_at=ret.signed_off_at,
                )
            ]
            if ret.signed_off_at is not None:
                events.append(
                    SignOffWithdrawn(
                        organisation_id=organisation_id,
                        cycle=cycle,
                        signed_off_at=ret.signed_off_at,
                        sign_off_event_id=await self.repo.last_sign_off_id(
                            conn, cycle, organisation_id
                        ),
                        reason=reason,
                        withdrawn_by=context.actor,
                        withdrawn_at=self.clock.now(),
                    )
                )
            return events

        return await self._append_return(cycle, organisation_id, reopen, context)

    async def _append_return(
        self,
        cycle: str,
        organisation_id: str,
        decide_events: Callable[[Connection, ReturnState], Awaitable[list[EventPayload]]],
        context: AppendContext,
    ) -> ReturnState:
        """Append what `decide_events` decides from the return as this transaction reads it."""
        try:
            async with self.transactions.transaction() as conn:
                ret = await self.repo.load_return(cycle, organisation_id, conn)
                events = await decide_events(conn, ret)
                after = await self.repo.append_return(conn, ret, events, context, self.clock.now())
                reopened = [e for e in events if isinstance(e, ReturnReopened)]
                if reopened and after.signed_off_at is None:
                    # Reopening a signed-off return unlocks its questionnaires in the same
                    # transaction (the sign-off locked them: `application.sign_off`).
                    unlocks = [
                        (q, unlock)
                        for q in await self.questionnaires.of_return(cycle, organisation_id, conn)
                        if (unlock := decide.unlock(q, reopened[-1].reason))
                    ]
                    await self.questionnaires.append_many(conn, unlocks, context)
                return after
        except ConcurrencyConflict:
            raise Conflict(
                f"{organisation_id}'s {cycle} return changed meanwhile; try again"
            ) from None

    async def _known(self, organisation_id: str) -> None:
        if not await self.registry.is_known(organisation_id):
            raise NotFound(f"no organisation {organisation_id}")
