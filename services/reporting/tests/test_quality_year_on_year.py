"""Data-quality rates year on year, and rule warnings at submission: known numbers at the
boundaries (nothing to divide by, no previous cycle, a change rounded as shown), the rules as
the definitions state them, and the SQL that works them out agreeing with the Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from csm_contracts.events.questionnaire import ResponseSubmitted
from csm_contracts.events.responses import QuestionnaireIssued
from progress_history import CYCLE, LAST_CYCLE, at, organisations, schedule
from reporting.domain.quality import CycleRows, percent, points, rates, year_on_year
from reporting.domain.rules import RULES, broken

DEFINITIONS = Path(__file__).resolve().parents[2] / "questionnaire/src/questionnaire/definitions"


def org(region: str | None = "london", **counts: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "region": region,
        "issued": 0,
        "submitted": 0,
        "late_submissions": 0,
        "carried_forward": 0,
        "unchecked": 0,
        "submitted_with_warnings": 0,
        "signed_off": False,
        "signed_off_late": False,
        "reopened_after_sign_off": 0,
        "delegations_outstanding_at_close": 0,
        "delegations_revoked_unreturned": 0,
        "score": 100,
    }
    row.update(counts)
    return row


def test_percent_and_points_at_their_boundaries() -> None:
    assert percent(0, 0) is None and percent(0, 3) == 0.0 and percent(3, 3) == 100.0
    assert percent(1, 3) == 33.3 and percent(2, 3) == 66.7
    # The change is the difference of the rates as shown: 66.7 - 33.3 = 33.4, not 33.3.
    assert points(66.7, 33.3) == 33.4
    assert points(None, 50.0) is None and points(50.0, None) is None
    assert points(0.0, 0.0) == 0.0 and points(10.0, 12.5) == -2.5


def test_rates_of_a_group() -> None:
    rows = [
        org(
            issued=4,
            submitted=3,
            late_submissions=1,
            carried_forward=2,
            unchecked=1,
            submitted_with_warnings=1,
            signed_off=True,
            signed_off_late=True,
            score=80,
        ),
        org(
            issued=0,
            submitted=0,
            reopened_after_sign_off=1,
            delegations_revoked_unreturned=2,
            score=55,
        ),
    ]
    r = rates(rows)
    assert r["completeness"] == 75.0 and r["late_rate"] == 33.3
    assert r["unchecked_rate"] == 50.0 and r["warnings_rate"] == 33.3
    assert r["signed_off_rate"] == 50.0 and r["signed_off_late_rate"] == 100.0
    assert r["reopened_rate"] == 50.0 and r["unreturned_rate"] == 50.0
    assert r["mean_score"] == 67.5 and r["organisations"] == 2
    # Nothing issued, nothing signed off: no rate rather than 0 % or 100 %.
    empty = rates([org()])
    assert empty["completeness"] is None and empty["signed_off_late_rate"] is None
    assert empty["signed_off_rate"] == 0.0
    assert rates([])["mean_score"] is None


def test_year_on_year_nationally_and_per_region() -> None:
    before = CycleRows(
        LAST_CYCLE,
        None,
        [org("london", issued=3, submitted=1), org("north-east", issued=1, submitted=1)],
    )
    now = CycleRows(
        CYCLE,
        LAST_CYCLE,
        [
            org("london", issued=3, submitted=2),
            org("north-east", issued=2, submitted=1),
            org("south-west", issued=1, submitted=1),  # new this cycle
        ],
    )
    table = year_on_year([now, before])  # any order in, cycles in order out
    got = {(r["cycle"], r["group"]): r for r in table}
    assert [(r["cycle"], r["group"]) for r in table] == [
        (LAST_CYCLE, "national"),
        (LAST_CYCLE, "london"),
        (LAST_CYCLE, "north-east"),
        (CYCLE, "national"),
        (CYCLE, "london"),
        (CYCLE, "north-east"),
        (CYCLE, "south-west"),
    ]
    # The first cycle has nothing before it (2007-08 is not in the journal).
    first = got[(LAST_CYCLE, "national")]
    assert first["completeness"] == 50.0 and first["completeness_change"] is None
    assert first["previous_cycle"] is None
    national = got[(CYCLE, "national")]
    assert national["completeness"] == 66.7 and national["completeness_change"] == 16.7
    assert national["previous_cycle"] == LAST_CYCLE
    assert got[(CYCLE, "london")]["completeness_change"] == round(66.7 - 33.3, 1)
    assert got[(CYCLE, "north-east")]["completeness_change"] == -50.0
    # A region with no organisations the cycle before has no change.
    assert got[(CYCLE, "south-west")]["completeness_change"] is None
    # One region asked for: the nation and that region only.
    only = year_on_year([before, now], "london")
    assert {r["group"] for r in only} == {"national", "london"}


def test_the_rules_are_the_definitions_rules() -> None:
    from_files: dict[str, set[tuple[Any, ...]]] = {}
    for path in DEFINITIONS.glob("*.yaml"):
        definition = yaml.safe_load(path.read_text())
        for rule in definition.get("rules", []):
            from_files.setdefault(definition["id"], set()).add(
                (
                    rule["id"],
                    rule["kind"],
                    tuple(rule.get("parts", ())),
                    rule.get("total"),
                    rule.get("left"),
                    rule.get("right"),
                )
            )
    ours = {
        d: {(r.id, r.kind, r.parts, r.total, r.left, r.right) for r in rules}
        for d, rules in RULES.items()
    }
    assert ours == from_files


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, []),
        # Money as exact text: 0.10 + 0.20 is 0.30 exactly.
        ({"investment_nhs": "0.10", "investment_pooled": "0.20", "investment_total": "0.30"}, []),
        ({"investment_nhs": "100.00", "investment_total": "100.01"}, ["investment_adds_up"]),
        # No total: nothing to add up to; parts missing count as 0.
        ({"wte_nursing": 3}, []),
        ({"wte_total": 0}, []),
        ({"wte_nursing": 1.5, "wte_admin": 0.5, "wte_total": 2}, []),
        ({"wte_nursing": 1.5, "wte_total": 2}, ["workforce_adds_up"]),
        # Looked-after children: equal is fine, one more is not, one side missing is no check.
        ({"caseload_looked_after": 10, "caseload_total": 10}, []),
        ({"caseload_looked_after": 11, "caseload_total": 10}, ["looked_after_not_above_caseload"]),
        ({"caseload_looked_after": 11}, []),
        # Not a number: no answer.
        ({"wte_nursing": "lots", "wte_total": 0}, []),
        ({"wte_total": True}, []),
    ],
)
def test_broken_rules_of_a_service(answers: dict[str, Any], expected: list[str]) -> None:
    assert broken("service@1", answers) == expected


async def test_the_projection_finds_what_the_python_finds(reporting_db) -> None:
    h = reporting_db.history
    organisations(h)
    schedule(h)
    cases = {
        "ok": {"investment_nhs": "10.00", "investment_total": "10.00", "wte_total": 0},
        "money": {"investment_nhs": "10.00", "investment_total": "10.50"},
        "both": {"wte_nursing": 2, "wte_total": 1, "caseload_looked_after": 5, "caseload_total": 4},
        "text": {"wte_nursing": "x", "wte_total": "1e2", "wte_other": "100"},
    }
    for i, (name, answers) in enumerate(cases.items()):
        qid = f"q-{name}"
        common = {"organisation_id": "5A4", "cycle": CYCLE, "questionnaire_id": qid}
        h.add(
            QuestionnaireIssued(
                **common,
                definition="service@1",
                title=name,
                subject_kind="service",
                subject_id=f"s{i}",
            )
        )
        h.add(
            ResponseSubmitted(
                **common,
                definition="service@1",
                submitted_by="lead",
                answers=answers,
                subject_kind="service",
                subject_id=f"s{i}",
            ),
            at=at(1, 20 + i),
        )
    await reporting_db.record()
    async with reporting_db.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT questionnaire_id, rules FROM rm_progress.prog_rule_warnings"
        )
    assert {r["questionnaire_id"]: sorted(r["rules"]) for r in rows} == {
        f"q-{name}": sorted(broken("service@1", answers)) for name, answers in cases.items()
    }
    result = await reporting_db.report("data-quality", cycle=CYCLE)
    [pct] = [r for r in result.tables[0].rows if r["code"] == "5A4"]
    assert pct["submitted_with_warnings"] == 2 and pct["rule_warnings"] == 3
    [national] = [r for r in result.tables[1].rows if r["group"] == "national"]
    assert national["warnings_rate"] == 50.0
    detail = await reporting_db.report("data-quality-organisation", cycle=CYCLE, organisation="5A4")
    issues = {r["title"]: (r["rule_warnings"], r["issue"]) for r in detail.tables[1].rows}
    assert issues["money"] == ("investment_adds_up", "rule warnings at submission")
    assert issues["ok"] == ("", None)
