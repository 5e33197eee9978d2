"""Answers a service questionnaire would ask again that its service record already holds
(pure): whether it is a CAMHS service (and its tier) and the age ranges it covers. They are put
in the form, not saved: the person checks them and saves like any other answer."""

from __future__ import annotations

from typing import Any

from .answers import questions_of
from .models import Question, QuestionnaireView, Section, ServiceRecord

#: The service questionnaire's age bands, as whole years (antenatal is never inferred).
AGE_BANDS = (
    ("age_0_4", 0, 4),
    ("age_5_10", 5, 10),
    ("age_11_15", 11, 15),
    ("age_16_17", 16, 17),
    ("age_18_19", 18, 19),
)


def from_record(view: QuestionnaireView, record: ServiceRecord) -> dict[str, Any]:
    """The answers the record gives for questions still unanswered, by question id."""
    questions = questions_of(view)
    out: dict[str, Any] = {}

    def unanswered(qid: str) -> bool:
        q = questions.get(qid)
        return q is not None and q.get("answer") in (None, [], "")

    if unanswered("camhs"):
        out["camhs"] = record.camhs
    if record.camhs and record.camhs_tier is not None and unanswered("camhs_tier"):
        allowed = {o["value"] for o in questions["camhs_tier"].get("options", [])}
        if str(record.camhs_tier) in allowed:
            out["camhs_tier"] = str(record.camhs_tier)
    low, high = record.client_group.age_min, record.client_group.age_max
    if low is not None and high is not None and unanswered("age_bands"):
        allowed = {o["value"] for o in questions["age_bands"].get("options", [])}
        bands = [b for b, lo, hi in AGE_BANDS if lo <= high and hi >= low and b in allowed]
        if bands:
            out["age_bands"] = bands
    return out


def with_answers(view: QuestionnaireView, answers: dict[str, Any]) -> QuestionnaireView:
    """The view with `answers` filled in (shown in the form, nothing saved)."""
    sections: list[Section] = []
    for s in view.get("sections", []):
        questions: list[Question] = [
            {**q, "answer": answers[q["id"]]} if q["id"] in answers else q
            for q in s.get("questions", [])
        ]
        sections.append({**s, "questions": questions})
    return {**view, "sections": sections}
