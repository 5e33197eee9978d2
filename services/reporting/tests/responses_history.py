"""A small two-cycle, two-area history of submissions, with its figures worked out by hand.

Areas 00AA (Anytown) and 00AB (Otherborough). Anytown PCT (5A4) covers both, so its services
count in both; Anytown Mental Health Trust (RT1) covers 00AA; Kids Charity (TS1) covers 00AB;
Otherborough PCT (5B1, south-east) covers 00AB.

2008-09 (current submissions): S1-08 by 5A4 universal NHS, £100,000 NHS, 3 WTE nursing;
S2-08 by 00AA targeted LA CAMHS tier 2, £50,000 LA children's, 2 WTE social work.

2009-10, in this order:
- S1-10 by 5A4: universal NHS, £120,000 NHS + £10,000 pooled, 3.5 nursing + 0.5 admin;
- S2-10 by 00AA submitted at £55,000 (LA children's), 2 WTE social work;
- S5-10 by 00AA: specialist LA, £999,999, 9 WTE other;
- `before_changes` (the as-at moment);
- S2-10 withdrawn, then S5-10 withdrawn (and never resubmitted);
- S3-10 by RT1: specialist NHS CAMHS tier 3, £200,000 NHS, 1 medical + 2 psychology + 1 nursing;
- S2-10 resubmitted: targeted LA CAMHS tier 2, £40,000 LA children's + £20,000 DCSF grant,
  2 social work + 1 psychology;
- S4-10 by TS1: targeted third sector, £30,000 third sector + £10,000 LA children's, 1.5 youth;
- S7-10 by RT1 submitted then cancelled (its service withdrawn);
- S6-10 by 5A4 issued, never submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from csm_contracts.events import OrganisationRegistered
from csm_contracts.events.cycles import CycleScheduled, ReturnReopened, Timetable
from csm_contracts.events.questionnaire import CycleSignedOff, ResponseSubmitted, Scorecard
from csm_contracts.events.responses import (
    QuestionnaireCancelled,
    QuestionnaireIssued,
    SubmissionWithdrawn,
)
from reporting_history import History

ORGANISATIONS = [
    ("00AA", "Anytown Council", "local-authority", "london", ["00AA"]),
    ("00AB", "Otherborough Council", "local-authority", "london", ["00AB"]),
    ("5A4", "Anytown PCT", "pct", "london", ["00AA", "00AB"]),
    ("5B1", "Otherborough PCT", "pct", "south-east", ["00AB"]),
    ("RT1", "Anytown Mental Health Trust", "nhs-trust-mental-health", "london", ["00AA"]),
    ("TS1", "Kids Charity", "third-sector", "london", ["00AB"]),
]

DEFINITIONS = {
    "service": ("service@1", "service"),
    "camhs": ("camhs-partnership@1", "area"),
    "trust": ("childrens-trust@1", "organisation"),
    "sa": ("commissioning-self-assessment@1", "organisation"),
}

TRUST_ANSWERS = {
    "trust_board": True,
    "board_partners": ["local_authority", "pct"],
    "caf_in_use": "whole_area",
    "joint_commissioning_posts": 2,
    "cypp_published": "2009-04-01",
}


def service_answers(
    need: str,
    sector: str,
    investment: dict[str, float],
    wte: dict[str, float],
    tier: str | None = None,
) -> dict[str, Any]:
    """A service questionnaire's effective answers, totals added up: money as exact text
    ("1234.00", as the questionnaire service normalises it), WTE as numbers."""
    answers: dict[str, Any] = {
        "level_of_need": need,
        "provider_sector": sector,
        "camhs": tier is not None,
    }
    if tier is not None:
        answers["camhs_tier"] = tier
    answers |= {f"investment_{k}": f"{v:.2f}" for k, v in investment.items()}
    answers["investment_total"] = f"{sum(investment.values()):.2f}"
    answers |= {f"wte_{k}": v for k, v in wte.items()}
    answers["wte_total"] = sum(wte.values())
    return answers


def ni51(a: int, b: int, c: int, d: int) -> dict[str, Any]:
    """A CAMHS partnership questionnaire's NI 51 answers."""
    keys = ("learning_disabilities", "urgent_24_hour_cover", "age_16_17", "early_intervention")
    return {k: {"score": s, "evidence": f"evidence {k}"} for k, s in zip(keys, (a, b, c, d))}


def scorecard(overall: str, *topics: str) -> Scorecard:
    """A self-assessment's scorecard: topics s1..s6 in order."""
    return Scorecard(topics={f"s{i}": t for i, t in enumerate(topics, 1)}, overall=overall)


@dataclass
class Built:
    before_changes: datetime
    end: datetime


class Responses:
    """Adds questionnaire events for one history."""

    def __init__(self, h: History) -> None:
        self.h = h

    def issue(self, org: str, cycle: str, kind: str, subject: str, title: str) -> str:
        definition, subject_kind = DEFINITIONS[kind]
        qid = f"q-{kind}-{cycle}-{subject}"
        self.h.add(
            QuestionnaireIssued(
                organisation_id=org,
                cycle=cycle,
                questionnaire_id=qid,
                definition=definition,
                title=title,
                subject_kind=subject_kind,
                subject_id=subject,
            )
        )
        return qid

    def submit(
        self,
        org: str,
        cycle: str,
        kind: str,
        subject: str,
        answers: dict[str, Any],
        card: Scorecard | None = None,
    ) -> None:
        definition, subject_kind = DEFINITIONS[kind]
        self.h.add(
            ResponseSubmitted(
                organisation_id=org,
                cycle=cycle,
                questionnaire_id=f"q-{kind}-{cycle}-{subject}",
                definition=definition,
                submitted_by="user:lead",
                answers=answers,
                subject_kind=subject_kind,
                subject_id=subject,
                scorecard=card,
            )
        )

    def withdraw(self, org: str, cycle: str, kind: str, subject: str) -> None:
        self.h.add(
            SubmissionWithdrawn(
                organisation_id=org,
                cycle=cycle,
                questionnaire_id=f"q-{kind}-{cycle}-{subject}",
                reason="to correct it",
            )
        )

    def cancel(self, org: str, cycle: str, kind: str, subject: str) -> None:
        self.h.add(
            QuestionnaireCancelled(
                organisation_id=org,
                cycle=cycle,
                questionnaire_id=f"q-{kind}-{cycle}-{subject}",
                reason="service withdrawn",
            )
        )

    def service(self, org: str, cycle: str, sid: str, answers: dict[str, Any] | None) -> None:
        self.issue(org, cycle, "service", sid, f"Service: Service {sid}")
        if answers is not None:
            self.submit(org, cycle, "service", sid, answers)


def schedule(h: History, cycle: str, previous: str | None, start: datetime) -> None:
    """The national team schedules a cycle."""
    day = timedelta(days=1)
    h.add(
        CycleScheduled(
            cycle=cycle,
            previous_cycle=previous,
            timetable=Timetable(
                sandbox_opens=start,
                data_entry_opens=start + day,
                summary_reports=start + 2 * day,
                data_entry_closes=start + 3 * day,
                publication=start + 4 * day,
            ),
        )
    )


def build(h: History) -> Built:
    """The whole history (see the module docstring)."""
    for code, name, kind, region, areas in ORGANISATIONS:
        h.add(
            OrganisationRegistered(
                organisation_id=code,
                code=code,
                name=name,
                kind=kind,
                region=region,
                partnership_areas=areas,
            )
        )
    r = Responses(h)
    schedule(h, "2008-09", None, datetime(2008, 10, 1, tzinfo=UTC))
    schedule(h, "2009-10", "2008-09", datetime(2009, 10, 1, tzinfo=UTC))

    # --- 2008-09
    c = "2008-09"
    r.service(
        "5A4", c, "S1-08", service_answers("universal", "nhs", {"nhs": 100000}, {"nursing": 3})
    )
    r.service(
        "00AA",
        c,
        "S2-08",
        service_answers(
            "targeted", "local_authority", {"la_childrens": 50000}, {"social_work": 2}, tier="2"
        ),
    )
    r.issue("5A4", c, "sa", "5A4", "Commissioning self-assessment: Anytown PCT")
    r.submit(
        "5A4",
        c,
        "sa",
        "5A4",
        {},
        scorecard("amber", "amber", "yellow", "yellow", "green", "yellow", "yellow"),
    )
    r.issue("00AA", c, "camhs", "00AA", "CAMHS partnership: Anytown Council")
    r.submit("00AA", c, "camhs", "00AA", ni51(2, 2, 2, 2))

    # --- 2009-10
    c = "2009-10"
    r.service(
        "5A4",
        c,
        "S1-10",
        service_answers(
            "universal", "nhs", {"nhs": 120000, "pooled": 10000}, {"nursing": 3.5, "admin": 0.5}
        ),
    )
    r.service(
        "00AA",
        c,
        "S2-10",
        service_answers(
            "targeted", "local_authority", {"la_childrens": 55000}, {"social_work": 2}, tier="2"
        ),
    )
    r.service(
        "00AA",
        c,
        "S5-10",
        service_answers("specialist", "local_authority", {"la_other": 999999}, {"other": 9}),
    )
    r.service("RT1", c, "S3-10", None)
    r.service("TS1", c, "S4-10", None)
    r.service("RT1", c, "S7-10", None)
    r.service("5A4", c, "S6-10", None)
    before_changes = h.now + timedelta(seconds=30)
    h.now += timedelta(minutes=1)
    r.withdraw("00AA", c, "service", "S2-10")
    r.withdraw("00AA", c, "service", "S5-10")
    r.submit(
        "RT1",
        c,
        "service",
        "S3-10",
        service_answers(
            "specialist",
            "nhs",
            {"nhs": 200000},
            {"medical": 1, "psychology": 2, "nursing": 1},
            tier="3",
        ),
    )
    r.submit(
        "00AA",
        c,
        "service",
        "S2-10",
        service_answers(
            "targeted",
            "local_authority",
            {"la_childrens": 40000, "dcsf_grant": 20000},
            {"social_work": 2, "psychology": 1},
            tier="2",
        ),
    )
    charity = service_answers(
        "targeted",
        "third_sector",
        {"third_sector": 30000, "la_childrens": 10000},
        {"youth_support": 1.5},
    )
    charity["investment_third_sector"] = 30000  # money as a JSON number is read as well
    r.submit("TS1", c, "service", "S4-10", charity)
    r.submit(
        "RT1",
        c,
        "service",
        "S7-10",
        service_answers("specialist", "nhs", {"nhs": 5000}, {"medical": 0.1}, tier="4"),
    )
    r.cancel("RT1", c, "service", "S7-10")

    # Area questionnaires: 00AA's CAMHS (NI 51 = 3+2+4+3 = 12) and Children's Trust stand;
    # 00AB's CAMHS was submitted (NI 51 = 16) then withdrawn.
    r.issue("00AA", c, "camhs", "00AA", "CAMHS partnership: Anytown Council")
    r.submit("00AA", c, "camhs", "00AA", ni51(3, 2, 4, 3))
    r.issue("00AA", c, "trust", "00AA", "Children's Trust arrangements: Anytown Council")
    r.submit("00AA", c, "trust", "00AA", TRUST_ANSWERS)
    r.issue("00AB", c, "camhs", "00AB", "CAMHS partnership: Otherborough Council")
    r.submit("00AB", c, "camhs", "00AB", ni51(4, 4, 4, 4))
    r.withdraw("00AB", c, "camhs", "00AB")

    # Self-assessments: 5A4 green (resubmitted after a withdrawal), 5B1 red.
    r.issue("5A4", c, "sa", "5A4", "Commissioning self-assessment: Anytown PCT")
    r.submit(
        "5A4",
        c,
        "sa",
        "5A4",
        {},
        scorecard("amber", "red", "yellow", "yellow", "green", "yellow", "yellow"),
    )
    r.withdraw("5A4", c, "sa", "5A4")
    r.submit(
        "5A4",
        c,
        "sa",
        "5A4",
        {},
        scorecard("green", "green", "green", "green", "dark-green", "yellow", "pale-green"),
    )
    r.issue("5B1", c, "sa", "5B1", "Commissioning self-assessment: Otherborough PCT")
    r.submit(
        "5B1", c, "sa", "5B1", {}, scorecard("red", "red", "red", "red", "red", "amber", "yellow")
    )

    # Sign-offs: 00AA stands signed off with NI 51 12; 5A4 signed off then reopened.
    h.add(
        CycleSignedOff(
            organisation_id="00AA",
            cycle=c,
            signed_off_at=h.now,
            signed_off_by="user:lead",
            questionnaires_submitted=3,
            ni51=[
                {
                    "area": "00AA",
                    "learning_disabilities": 3,
                    "urgent_24_hour_cover": 2,
                    "age_16_17": 4,
                    "early_intervention": 3,
                    "score": 12,
                }
            ],
        )
    )
    h.add(
        CycleSignedOff(
            organisation_id="5A4",
            cycle=c,
            signed_off_at=h.now,
            signed_off_by="user:lead",
            questionnaires_submitted=2,
        )
    )
    h.add(ReturnReopened(organisation_id="5A4", cycle=c, reason="a correction"))
    return Built(before_changes=before_changes, end=h.now)
