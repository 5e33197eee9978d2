"""Deadline reminders: emails to the mapping leads of organisations whose return is not yet
signed off, on a schedule of days before the close that the national team sets per cycle.

What it knows comes from the questionnaire service's events (`ReminderEvents`, applied in the
consumer's transaction): each cycle's close (`CycleScheduled`, `CycleTimetableChanged`), each
return's extension (`ExtensionGranted`) and whether it is signed off (`CycleSignedOff`, undone
by `ReturnReopened`). `Reminders.run_due` then records, in one pass, the reminders due now
(`domain.reminders` holds the rules: which offset is due, what the email says). Run twice,
nothing doubles.

Which organisations owe a return: every registered organisation with a lead. There is no finer
signal in the events yet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.cycles import (
    CycleScheduled,
    CycleTimetableChanged,
    ExtensionGranted,
    ReturnReopened,
)
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_kernel.clock import Clock
from csm_kernel.database import Connection
from csm_kernel.errors import NotFound
from csm_kernel.handlers import HandlerTable
from csm_kernel.health import LoopMonitor
from csm_kernel.observability import get_logger, traced_work

from ..domain.reminders import (
    DEFAULT_DAYS_BEFORE,
    MAX_DAYS_BEFORE,
    MAX_OFFSETS,
    days_left,
    human_time,
    reminder_intent,
    validate_schedule,
)
from .ports import Intents, NextDue, ReminderState, ReminderStore, Schedule

__all__ = [
    "DEFAULT_DAYS_BEFORE",
    "MAX_DAYS_BEFORE",
    "MAX_OFFSETS",
    "ReminderEvents",
    "Reminders",
    "Schedule",
    "days_left",
    "human_time",
    "validate_schedule",
]

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = get_logger(__name__)


class ReminderEvents:
    """The consumer's handlers that keep what the reminders know (the consumer's
    transaction). `CycleSignedOff` and `ReturnReopened` also cause emails of their own: a
    consumer wiring both tables runs both."""

    def __init__(self, state: ReminderState) -> None:
        self._state = state

    def table(self) -> HandlerTable:
        table = HandlerTable()
        table.add(CycleScheduled, self.on_cycle_scheduled)
        table.add(CycleTimetableChanged, self.on_timetable_changed)
        table.add(ExtensionGranted, self.on_extension_granted)
        table.add(CycleSignedOff, self.on_signed_off)
        table.add(ReturnReopened, self.on_reopened)
        return table

    async def on_cycle_scheduled(
        self, conn: Connection, envelope: EventEnvelope, event: CycleScheduled
    ) -> None:
        timetable = event.timetable
        await self._state.set_timetable(
            conn,
            event.cycle,
            timetable.data_entry_opens,
            timetable.data_entry_closes,
            envelope.occurred_at,
        )

    async def on_timetable_changed(
        self, conn: Connection, envelope: EventEnvelope, event: CycleTimetableChanged
    ) -> None:
        timetable = event.new_timetable
        await self._state.set_timetable(
            conn,
            event.cycle,
            timetable.data_entry_opens,
            timetable.data_entry_closes,
            envelope.occurred_at,
        )

    async def on_extension_granted(
        self, conn: Connection, envelope: EventEnvelope, event: ExtensionGranted
    ) -> None:
        await self._state.set_extension(
            conn, event.cycle, event.organisation_id, event.until, envelope.occurred_at
        )

    async def on_signed_off(
        self, conn: Connection, envelope: EventEnvelope, event: CycleSignedOff
    ) -> None:
        await self._state.set_signed_off(
            conn, event.cycle, event.organisation_id, event.signed_off_at, envelope.occurred_at
        )

    async def on_reopened(
        self, conn: Connection, envelope: EventEnvelope, event: ReturnReopened
    ) -> None:
        await self._state.set_signed_off(
            conn, event.cycle, event.organisation_id, None, envelope.occurred_at
        )


class Reminders:
    """Records the deadline reminders due now; the schedule per cycle."""

    def __init__(
        self,
        store: ReminderStore,
        intents: Intents,
        clock: Clock,
        portal_url: str = "http://127.0.0.1:8000",
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.store = store
        self.intents = intents
        self.clock = clock
        self.portal_url = portal_url.rstrip("/")
        self._tracer_provider = tracer_provider

    async def run_due(self) -> int:
        """Record every reminder due now, in one transaction; how many are new. A run that
        found reminders due is one trace, to its commit; an empty one makes none."""
        now = self.clock.now()
        with contextlib.ExitStack() as tracing:
            async with self.store.reminder_run() as conn:
                due = await self.store.due(conn, now)
                if not due:
                    return 0
                tracing.enter_context(
                    traced_work(
                        "notification reminders",
                        self._tracer_provider,
                        **{"csm.reminders.due": len(due)},
                    )
                )
                intents = [reminder_intent(d, now, self.portal_url) for d in due]
                await self.store.mark_recorded(conn, list(zip(due, intents, strict=True)), now)
                new = await self.intents.record(conn, intents, now)
        log.info("deadline reminders recorded", count=new)
        return new

    async def run(
        self, stop: asyncio.Event, interval: float = 30, monitor: LoopMonitor | None = None
    ) -> None:
        """Run `run_due` every `interval` seconds until `stop` is set. A failed run (the
        database away) is logged and tried again next time: nothing is lost, since what is
        due stays due until recorded (or the close passes)."""
        monitor = monitor or LoopMonitor("reminders")
        while not stop.is_set():
            try:
                await self.run_due()
                monitor.beat()
            except Exception as exc:
                # Whatever went wrong (the database away, most likely), the loop must outlive
                # it: a dead loop would silently stop every reminder.
                monitor.failed(exc)
                log.exception("deadline reminder run failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    # --- the schedule ------------------------------------------------------------------------

    async def set_schedule(self, cycle: str, days_before: Sequence[int], actor: str) -> Schedule:
        """The national team's schedule for `cycle` (it may come before the cycle's timetable
        has reached this service)."""
        offsets = validate_schedule(days_before)
        await self.store.set_schedule(cycle, offsets, actor, self.clock.now())
        log.info("reminder schedule set", cycle=cycle, days_before=offsets, actor=actor)
        return await self.schedule(cycle)

    async def schedule(self, cycle: str) -> Schedule:
        schedule = await self.store.schedule(cycle)
        if schedule is None:
            raise NotFound(f"no cycle {cycle} known to the reminders (not scheduled yet?)")
        return schedule

    async def status(self, cycle: str) -> dict[str, Any]:
        """The schedule, the close, the reminders recorded per offset (and what became of
        their emails) and which organisations are due the next reminder."""
        schedule = await self.schedule(cycle)
        now = self.clock.now()
        counts = await self.store.recorded(cycle)
        next_due = await self.store.next_due(cycle, now)
        by_offset = {c.days_before: c for c in counts}
        # Every offset of the schedule, and any recorded under an earlier schedule.
        offsets = sorted(set(schedule.days_before) | set(by_offset), reverse=True)
        recorded = [
            {
                "days_before": d,
                "in_schedule": d in schedule.days_before,
                "recorded": by_offset[d].recorded if d in by_offset else 0,
                "sent": by_offset[d].sent if d in by_offset else 0,
                "failed": by_offset[d].failed if d in by_offset else 0,
            }
            for d in offsets
        ]
        return {
            "cycle": cycle,
            "days_before": schedule.days_before,
            "default_schedule": schedule.set_at is None,
            "schedule_set_by": schedule.set_by,
            "schedule_set_at": schedule.set_at.isoformat() if schedule.set_at else None,
            "data_entry_closes": schedule.closes_at.isoformat() if schedule.closes_at else None,
            "recorded": recorded,
            "next": _next_view(next_due),
        }


def _next_view(rows: Sequence[NextDue]) -> dict[str, Any] | None:
    if not rows:
        return None
    first = rows[0]
    return {
        "due_at": first.due_at.isoformat(),
        "days_before": sorted({r.days_before for r in rows}, reverse=True),
        "count": first.total,
        "organisations": [
            {
                "organisation_id": r.organisation_id,
                "name": r.organisation_name,
                "days_before": r.days_before,
                "closes_at": r.closes_at.isoformat(),
            }
            for r in rows
        ],
    }
