"""The cycle's phases and the data-entry window, pure (no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from csm_contracts.events.cycles import Phase, Timetable
from questionnaire.domain.cycle import (
    CycleState,
    ReturnState,
    ensure_open_for_entry,
    entry_ends,
    later,
    phase_at,
)
from questionnaire.domain.errors import ReturnLocked

T = Timetable(
    sandbox_opens=datetime(2009, 10, 1, tzinfo=UTC),
    data_entry_opens=datetime(2009, 11, 2, tzinfo=UTC),
    summary_reports=datetime(2010, 1, 11, tzinfo=UTC),
    data_entry_closes=datetime(2010, 2, 28, 23, 59, 59, tzinfo=UTC),
    publication=datetime(2010, 4, 6, tzinfo=UTC),
)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("at", "phase"),
    [
        (T.sandbox_opens - TICK, Phase.SCHEDULED),
        (T.sandbox_opens, Phase.SANDBOX),
        (T.data_entry_opens - TICK, Phase.SANDBOX),
        (T.data_entry_opens, Phase.DATA_ENTRY),
        (T.summary_reports, Phase.SUMMARY_REPORTS),
        (T.data_entry_closes - TICK, Phase.SUMMARY_REPORTS),
        (T.data_entry_closes, Phase.CLOSED),
        (T.publication, Phase.PUBLISHED),
    ],
)
def test_each_phase_starts_exactly_at_its_date(at: datetime, phase: Phase) -> None:
    assert phase_at(T, at) is phase


def test_phases_are_ordered() -> None:
    assert later(Phase.CLOSED, Phase.DATA_ENTRY) and not later(Phase.SANDBOX, Phase.SANDBOX)


def test_a_timetable_out_of_order_is_refused() -> None:
    with pytest.raises(ValueError, match="data_entry_closes must come after summary_reports"):
        Timetable(**{**T.model_dump(), "data_entry_closes": T.summary_reports})


def cycle(phase: Phase) -> CycleState:
    return CycleState("2009-10", 3, phase, T)


AFTER = T.data_entry_closes + timedelta(days=1)


@pytest.mark.parametrize(
    ("phase", "ret", "now", "refusal"),
    [
        (Phase.DATA_ENTRY, ReturnState("2009-10", "X"), T.data_entry_opens, None),
        (Phase.SUMMARY_REPORTS, ReturnState("2009-10", "X"), T.summary_reports, None),
        (Phase.SANDBOX, ReturnState("2009-10", "X"), T.sandbox_opens, "opens on"),
        (Phase.CLOSED, ReturnState("2009-10", "X"), AFTER, "closed at"),
        (Phase.CLOSED, ReturnState("2009-10", "X", 1, extension_until=AFTER + TICK), AFTER, None),
        (
            Phase.CLOSED,
            ReturnState("2009-10", "X", 1, extension_until=AFTER),
            AFTER,
            "extension for 2009-10 ended",
        ),
        (Phase.CLOSED, ReturnState("2009-10", "X", 1, reopened=True), AFTER, None),
        (
            Phase.DATA_ENTRY,
            ReturnState("2009-10", "X", 1, signed_off_at=T.data_entry_opens),
            T.data_entry_opens,
            "signed off",
        ),
    ],
)
def test_when_answers_may_change(phase, ret, now, refusal) -> None:
    if refusal is None:
        ensure_open_for_entry(cycle(phase), ret, now)
    else:
        with pytest.raises(ReturnLocked, match=refusal):
            ensure_open_for_entry(cycle(phase), ret, now)


def test_data_entry_ends_at_the_close_or_a_later_extension() -> None:
    assert entry_ends(cycle(Phase.DATA_ENTRY), ReturnState("2009-10", "X")) == T.data_entry_closes
    extended = ReturnState("2009-10", "X", 1, extension_until=AFTER)
    assert entry_ends(cycle(Phase.CLOSED), extended) == AFTER
