"""The decisions the pages used to make themselves, now application functions: which cycle
a lead means, how a return's questionnaires are grouped, who may do what, what a delegation
act sends, how a reminder schedule and a bulletin's audience are read."""

from __future__ import annotations

import pytest

from csm_contracts.auth import Role
from csm_kernel.auth import Principal
from portal.application.delegations import DEFAULT_SEND_BACK, delegation_act
from portal.application.directory import labelled
from portal.application.history import history_rows
from portal.application.models import (
    Cycle,
    FieldChange,
    QuestionnaireSummary,
    ReturnStatus,
)
from portal.application.notices import audience, days_before, days_problem
from portal.application.organisations import partnership_areas
from portal.application.permissions import (
    home_of,
    may_define_groups,
    may_sign_off,
)
from portal.application.returns import by_group, current_cycle, live


def _principal(*roles: Role) -> Principal:
    return Principal(
        user_id="a1", session_id="", roles=frozenset(roles), organisation_id="5A4", group_id=None
    )


def _cycle(cycle: str, phase: str) -> Cycle:
    return Cycle(cycle=cycle, phase=phase)


def _q(
    qid: str, title: str, status: str = "not-started", group: str | None = None
) -> QuestionnaireSummary:
    return QuestionnaireSummary(id=qid, title=title, status=status, group_id=group)


# --- returns -------------------------------------------------------------------------------


def test_the_cycle_in_data_entry_is_the_current_one() -> None:
    cycles = [_cycle("2010-11", "scheduled"), _cycle("2009-10", "data-entry")]
    assert current_cycle(cycles) == "2009-10"


def test_else_the_latest_of_the_best_phase() -> None:
    cycles = [_cycle("2008-09", "published"), _cycle("2009-10", "published")]
    assert current_cycle(cycles) == "2009-10"
    assert current_cycle([_cycle("x", "unknown"), _cycle("2001-02", "closed")]) == "2001-02"


def test_no_cycles_no_current_one() -> None:
    assert current_cycle([]) is None


def test_questionnaires_grouped_by_their_group_name_cancelled_left_out() -> None:
    owed = [
        _q("q3", "Zeta", group="g1"),
        _q("q1", "Beta"),
        _q("q2", "Alpha"),
        _q("q4", "Gone", status="cancelled"),
        _q("q5", "Unnamed group", group="g9"),
    ]
    grouped = by_group(owed, {"g1": "North locality"})
    assert list(grouped) == ["Organisation", "North locality", "g9"]
    assert [q.title for q in grouped["Organisation"]] == ["Alpha", "Beta"]
    assert [q.id for q in live(owed)] == ["q3", "q1", "q2", "q5"]


# --- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [
        ((Role.MAPPING_LEAD,), True),
        ((Role.NATIONAL_ADMIN,), True),
        ((Role.GROUP_OWNER,), False),
        ((Role.REGULATOR,), False),
    ],
)
def test_who_may_define_groups(roles: tuple[Role, ...], allowed: bool) -> None:
    assert may_define_groups(_principal(*roles)) is allowed


def test_only_the_lead_signs_off_a_return_ready_for_it() -> None:
    ready = ReturnStatus(cycle="2009-10", organisation_id="5A4", can_sign_off=True)
    not_ready = ReturnStatus(cycle="2009-10", organisation_id="5A4", can_sign_off=False)
    assert may_sign_off(_principal(Role.MAPPING_LEAD), ready)
    assert not may_sign_off(_principal(Role.GROUP_OWNER), ready)
    assert not may_sign_off(_principal(Role.MAPPING_LEAD), not_ready)


def test_where_the_start_page_sends_each_role() -> None:
    assert home_of(_principal(Role.MAPPING_LEAD)) == "/dashboard"
    assert home_of(_principal(Role.GROUP_OWNER)) == "/dashboard"
    assert home_of(_principal(Role.NATIONAL_ADMIN)) == "/national"
    # Regulators and auditors land on pages made for them.
    assert home_of(_principal(Role.REGULATOR)) == "/regulator"
    assert home_of(_principal(Role.AUDITOR)) == "/auditor"
    assert home_of(_principal()) is None


# --- delegations ---------------------------------------------------------------------------


def test_each_delegation_act_its_body_and_its_word() -> None:
    revoke = delegation_act("revoke", reason="", comment="ignored")
    assert revoke is not None and (revoke.body, revoke.done) == ({"reason": None}, "revoked")
    back = delegation_act("send-back", reason="", comment="")
    assert back is not None and back.body == {"comment": DEFAULT_SEND_BACK}
    assert back.done == "sent-back"
    accept = delegation_act("accept", reason="x", comment="y")
    assert accept is not None and (accept.body, accept.done) == (None, "accepted")
    assert delegation_act("delete", reason="", comment="") is None


# --- notices -------------------------------------------------------------------------------


def test_a_reminder_schedule_as_typed() -> None:
    assert days_problem("28, 14;7 1") is None
    assert days_before("28, 14;7 1") == [28, 14, 7, 1]
    assert days_problem("  ") == "Enter how many days before the close to send reminders"
    assert days_problem("28, soon") is not None
    assert days_problem("-1") is not None


def test_a_bulletin_goes_to_everyone_unless_some_are_chosen() -> None:
    assert audience([], [], " ") is None
    assert audience(["london"], [], "5a4, 5b1;") == {
        "regions": ["london"],
        "kinds": [],
        "organisation_ids": ["5A4", "5B1"],
    }


def test_partnership_areas_as_typed() -> None:
    assert partnership_areas(" e10; e11 ,, ") == ["E10", "E11"]


# --- history and the directory ------------------------------------------------------------


def test_history_names_each_change_by_its_question() -> None:
    view = {"sections": [{"questions": [{"id": "n", "text": "How many?"}]}]}
    entries = [
        {"type": "AnswersSaved", "changes": [{"question": "n"}, {"question": "gone"}]},
        {"type": "Withdrawn", "reason": "typo", "comment": ""},
    ]
    rows = history_rows(view, entries)
    assert [c["text"] for c in rows[0]["changes"]] == ["How many?", "gone"]
    assert rows[1]["details"] == [("Reason", "typo")]
    assert rows[1]["changes"] == []


def test_last_years_changes_under_their_labels() -> None:
    changes = [FieldChange(field="name", old="A", new="B"), FieldChange(field="x", old=1)]
    shown = labelled(changes, {"name": "Name"})
    assert [(c.label, c.old, c.new) for c in shown] == [("Name", "A", "B"), ("x", 1, None)]


def test_history_shows_answers_as_people_write_them() -> None:
    from portal.application.history import shown_answer

    assert [shown_answer(v) for v in (True, False, None, ["0-4", "5-10"], 1400)] == [
        "Yes",
        "No",
        None,
        "0-4, 5-10",
        "1,400",
    ]
    labels = {"age_0_4": "0 to 4", "mental_health": "Mental health"}
    assert shown_answer(["age_0_4", "mental_health"], labels) == "0 to 4, Mental health"
