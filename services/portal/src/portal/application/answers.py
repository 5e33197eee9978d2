"""A questionnaire's answers as an HTML form holds them, and back (pure).

A form holds strings; the questionnaire service wants typed answers. Each rendered question
posts a hidden `present` input with its id, so an unticked set of checkboxes (which posts
nothing) still clears its answer, and a question the page did not show is left alone.

| type | form names | answer |
|---|---|---|
| single_choice, text, numbers | `q.ID` | the string (numbers parsed by the service) |
| multiple_choice | `q.ID` repeated | list of values |
| yes_no | `q.ID` = yes / no | true / false |
| date | `q.ID-day`, `q.ID-month`, `q.ID-year` | YYYY-MM-DD |
| scored_scale | `q.ID` (score), `q.ID.evidence` | {score, evidence} |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from .models import JsonObject, Question, QuestionnaireView, Section
from .numbers import whole_number

NUMBERS = ("integer", "decimal", "percentage", "money")


class Form(Protocol):
    def get(self, key: str, /) -> Any: ...
    def getlist(self, key: str) -> list[Any]: ...


def questions_of(view: QuestionnaireView) -> dict[str, Question]:
    """Every question of a rendered questionnaire, by id."""
    return {q["id"]: q for s in view.get("sections", []) for q in s.get("questions", [])}


def stored_answers(view: QuestionnaireView) -> JsonObject:
    questions = questions_of(view).items()
    return {qid: q.get("answer") for qid, q in questions if q.get("answer") is not None}


def form_values(view: QuestionnaireView) -> dict[str, Any]:
    """The stored answers as the form's inputs hold them."""
    out: dict[str, Any] = {}
    for qid, q in questions_of(view).items():
        answer: Any = q.get("answer")
        name = f"q.{qid}"
        if answer is None:
            continue
        kind = q["type"]
        if kind == "yes_no":
            out[name] = "yes" if answer else "no"
        elif kind == "multiple_choice":
            out[name] = list(answer)
        elif kind == "date":
            year, month, day = [*str(answer).split("-"), "", ""][:3]
            out[f"{name}-day"], out[f"{name}-month"], out[f"{name}-year"] = day, month, year
        elif kind == "scored_scale":
            out[name] = str(answer.get("score", ""))
            out[f"{name}.evidence"] = answer.get("evidence") or ""
        else:
            out[name] = str(answer)
    return out


def _text(form: Form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def answer_from_form(form: Form, q: Mapping[str, Any]) -> Any:
    """One question's answer from the form (None: no answer)."""
    name, kind = f"q.{q['id']}", q["type"]
    if kind == "multiple_choice":
        chosen = [v for v in form.getlist(name) if isinstance(v, str) and v]
        return chosen or None
    if kind == "date":
        parts = [_text(form, f"{name}-{p}") for p in ("year", "month", "day")]
        if not any(parts):
            return None
        try:
            year, month, day = (int(p) for p in parts)
        except ValueError:
            return "/".join(reversed(parts))  # the service says what a date must look like
        return f"{year:04d}-{month:02d}-{day:02d}"
    if kind == "scored_scale":
        score, evidence = _text(form, name), _text(form, f"{name}.evidence")
        if not score and not evidence:
            return None
        out: dict[str, Any] = {"evidence": evidence or None}
        if score:
            number = whole_number(score)
            out["score"] = score if number is None else number
        return out
    value = _text(form, name)
    if not value:
        return None
    if kind == "yes_no":
        return {"yes": True, "no": False}.get(value, value)
    if kind == "integer":
        cleaned = value.replace(",", "")
        number = whole_number(cleaned)
        return value if number is None else number
    if kind in NUMBERS:
        return value.replace("£", "").replace("%", "").replace(",", "").strip()
    return value


def answers_from_form(form: Form, questions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The answers of every question the page showed (`present`), by id."""
    shown = [qid for qid in form.getlist("present") if qid in questions]
    return {qid: answer_from_form(form, questions[qid]) for qid in shown}


def without_hidden(
    changes: Mapping[str, Any], visible: Iterable[str], stored: Mapping[str, Any]
) -> dict[str, Any]:
    """The changes to send: an answer to a question the new answers hide is refused by the
    service, so it is cleared when it was stored and otherwise left out."""
    shown = set(visible)
    out: dict[str, Any] = {}
    for qid, value in changes.items():
        if qid in shown or value is None:
            out[qid] = value
        elif stored.get(qid) is not None:
            out[qid] = None
    return out


def visible_ids(rendered: QuestionnaireView) -> list[str]:
    """The questions a rendering shows."""
    return [
        q["id"]
        for s in rendered.get("sections", [])
        if s.get("visible", True)
        for q in s.get("questions", [])
        if q.get("visible")
    ]


def overlay(view: QuestionnaireView, rendered: QuestionnaireView) -> QuestionnaireView:
    """The questionnaire `view` showing the questions a what-if `rendering` shows."""
    shown = set(visible_ids(rendered))
    sections: list[Section] = []
    for s in view.get("sections", []):
        questions: list[Question] = [
            {**q, "visible": q["id"] in shown} for q in s.get("questions", [])
        ]
        section: Section = {
            **s,
            "questions": questions,
            "visible": any(q["id"] in shown for q in questions),
        }
        sections.append(section)
    return {**view, "sections": sections}
