"""A mapping cycle's phases, and when an organisation's return may still change.

Phases follow the timetable by the clock; the national team may move a cycle on early, never
back (to give more time, it changes the timetable or grants extensions). After the close,
data entry needs an extension still running or a reopened return; a signed-off return is
locked until the national team reopens it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from csm_contracts.events.cycles import (
    CyclePhaseChanged,
    CycleScheduled,
    CycleTimetableChanged,
    ExtensionGranted,
    Phase,
    ReturnReopened,
    Timetable,
)
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_contracts.registry import EventPayload

from .errors import ReturnLocked

ORDER = list(Phase)
#: Phases in which questionnaires are answered.
ENTRY = frozenset({Phase.DATA_ENTRY, Phase.SUMMARY_REPORTS})
#: Phases in which questionnaires are owed, and so issued (from data entry to publication).
OWING = (Phase.DATA_ENTRY, Phase.SUMMARY_REPORTS, Phase.CLOSED)


def cycle_stream(cycle: str) -> str:
    return f"cycle-{cycle}"


def return_stream(cycle: str, organisation_id: str) -> str:
    return f"return-{cycle}-{organisation_id}"


def phase_at(timetable: Timetable, now: datetime) -> Phase:
    """The phase the timetable gives at `now`."""
    starts = [
        (timetable.publication, Phase.PUBLISHED),
        (timetable.data_entry_closes, Phase.CLOSED),
        (timetable.summary_reports, Phase.SUMMARY_REPORTS),
        (timetable.data_entry_opens, Phase.DATA_ENTRY),
        (timetable.sandbox_opens, Phase.SANDBOX),
    ]
    return next((phase for start, phase in starts if now >= start), Phase.SCHEDULED)


def later(a: Phase, b: Phase) -> bool:
    """Is `a` after `b`?"""
    return ORDER.index(a) > ORDER.index(b)


@dataclass(frozen=True)
class CycleState:
    cycle: str
    version: int
    phase: Phase
    timetable: Timetable
    previous_cycle: str | None = None


@dataclass(frozen=True)
class ReturnState:
    """One organisation's return for a cycle."""

    cycle: str
    organisation_id: str
    version: int = 0
    extension_until: datetime | None = None
    reopened: bool = False
    signed_off_at: datetime | None = None
    signed_off_by: str | None = None


def ensure_open_for_entry(cycle: CycleState, ret: ReturnState, now: datetime) -> None:
    """`ReturnLocked` (409) saying why, unless answers may change now."""
    if ret.signed_off_at is not None:
        raise ReturnLocked(
            f"{ret.organisation_id}'s {cycle.cycle} return was signed off at "
            f"{ret.signed_off_at.isoformat()}; only the national team can reopen it"
        )
    if cycle.phase in ENTRY:
        return
    if not later(cycle.phase, Phase.SUMMARY_REPORTS):
        raise ReturnLocked(
            f"data entry for {cycle.cycle} opens on {cycle.timetable.data_entry_opens.isoformat()}"
        )
    if ret.reopened:
        return
    if ret.extension_until is not None and now < ret.extension_until:
        return
    if ret.extension_until is not None:
        raise ReturnLocked(
            f"{ret.organisation_id}'s extension for {cycle.cycle} ended at "
            f"{ret.extension_until.isoformat()}"
        )
    raise ReturnLocked(
        f"data entry for {cycle.cycle} closed at {cycle.timetable.data_entry_closes.isoformat()}; "
        "ask the national team for an extension"
    )


def entry_ends(cycle: CycleState, ret: ReturnState) -> datetime:
    """When this organisation's data entry ends (the close, or its extension)."""
    closes = cycle.timetable.data_entry_closes
    if ret.extension_until is not None and ret.extension_until > closes:
        return ret.extension_until
    return closes


def evolve_cycle(state: CycleState | None, event: EventPayload) -> CycleState | None:
    """A cycle's state after one more of its events."""
    if isinstance(event, CycleScheduled):
        return CycleState(event.cycle, 1, Phase.SCHEDULED, event.timetable, event.previous_cycle)
    assert state is not None
    if isinstance(event, CycleTimetableChanged):
        return replace(state, version=state.version + 1, timetable=event.new_timetable)
    if isinstance(event, CyclePhaseChanged):
        return replace(state, version=state.version + 1, phase=event.phase)
    return replace(state, version=state.version + 1)


def evolve_return(state: ReturnState, event: EventPayload) -> ReturnState:
    """A return's state after one more of its events."""
    v = state.version + 1
    if isinstance(event, ExtensionGranted):
        return replace(state, version=v, extension_until=event.until)
    if isinstance(event, ReturnReopened):
        return replace(state, version=v, reopened=True, signed_off_at=None, signed_off_by=None)
    if isinstance(event, CycleSignedOff):
        return replace(
            state,
            version=v,
            reopened=False,
            signed_off_at=event.signed_off_at,
            signed_off_by=event.signed_off_by,
        )
    return replace(state, version=v)
