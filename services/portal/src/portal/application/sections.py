"""A questionnaire in parts people can finish (pure): long ones one section per page with
progress per section, a "check your answers" summary, running totals for the cross-field rules,
and where a page's buttons lead."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .models import Question, QuestionnaireView, Section

#: A questionnaire with at least this many questions gets one page per section (the
#: self-assessment's 44 questions were one 31,000-pixel page).
LONG = 30


def is_long(view: QuestionnaireView) -> bool:
    """Whether the questionnaire is answered a section at a time."""
    sections = view.get("sections", [])
    return len(sections) > 1 and sum(len(s.get("questions", [])) for s in sections) >= LONG


def shown_sections(view: QuestionnaireView) -> list[Section]:
    """The sections the answers show, in order."""
    return [s for s in view.get("sections", []) if s.get("visible", True)]


def section_of(view: QuestionnaireView, section_id: str) -> Section | None:
    return next((s for s in shown_sections(view) if s["id"] == section_id), None)


def only(view: QuestionnaireView, section_id: str) -> QuestionnaireView:
    """The questionnaire with every other section hidden (one section's page)."""
    sections: list[Section] = [
        s if s["id"] == section_id else {**s, "visible": False} for s in view.get("sections", [])
    ]
    return {**view, "sections": sections}


def next_section(view: QuestionnaireView, section_id: str) -> str | None:
    """The section after `section_id` that the answers show (None: it was the last)."""
    ids = [s["id"] for s in shown_sections(view)]
    if section_id not in ids:
        return ids[0] if ids else None
    at = ids.index(section_id)
    return ids[at + 1] if at + 1 < len(ids) else None


def _answered(q: Question) -> bool:
    answer = q.get("answer")
    return answer is not None and answer != [] and answer != ""


@dataclass(frozen=True)
class Progress:
    """One section on the overview: how much of it is answered."""

    id: str
    title: str
    answered: int
    shown: int
    missing: int

    @property
    def status(self) -> str:
        if self.missing == 0 and self.answered > 0:
            return "Completed"
        if self.answered == 0:
            return "Not started"
        return "In progress"


def progress(view: QuestionnaireView) -> list[Progress]:
    """Each shown section's answered count ("4 of 11 answered") and what it still needs."""
    missing = {str(p.get("question")) for p in view.get("missing", [])}
    out: list[Progress] = []
    for s in shown_sections(view):
        questions = [q for q in s.get("questions", []) if q.get("visible")]
        out.append(
            Progress(
                s["id"],
                s.get("title") or s["id"],
                sum(1 for q in questions if _answered(q)),
                len(questions),
                sum(1 for q in questions if q["id"] in missing),
            )
        )
    return out


def section_for_question(view: QuestionnaireView) -> dict[str, str]:
    """Each question's section id."""
    return {q["id"]: s["id"] for s in view.get("sections", []) for q in s.get("questions", [])}


# --- showing answers -----------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).replace(",", "").replace("£", "").replace("%", "").strip())
    except (InvalidOperation, ValueError):
        return None


def _grouped(number: Decimal) -> str:
    text = f"{number:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def shown_answer(q: Question) -> str:
    """An answer as people read it: option labels, Yes or No, £760,000, 12.5%, dates in
    words, a score with its level."""
    answer: Any = q.get("answer")
    if answer is None or answer == [] or answer == "":
        return "Not answered"
    kind = q["type"]
    labels = {o["value"]: o["label"] for o in q.get("options", [])}
    if kind == "yes_no":
        return "Yes" if answer is True else "No" if answer is False else str(answer)
    if kind == "single_choice":
        return labels.get(str(answer), str(answer))
    if kind == "multiple_choice":
        return ", ".join(labels.get(str(v), str(v)) for v in answer)
    if kind in ("integer", "decimal", "money", "percentage"):
        number = _number(answer)
        if number is None:
            return str(answer)
        text = _grouped(number)
        return f"£{text}" if kind == "money" else f"{text}%" if kind == "percentage" else text
    if kind == "date":
        try:
            day = date.fromisoformat(str(answer))
        except ValueError:
            return str(answer)
        return f"{day.day} {day:%B %Y}"
    if kind == "scored_scale" and isinstance(answer, Mapping):
        score = answer.get("score")
        level = q.get("levels", {}).get(str(score), "")
        text = f"{score} \N{EN DASH} {level}" if level else str(score)
        evidence = answer.get("evidence")
        return f"{text}. Evidence: {evidence}" if evidence else text
    return str(answer)


_NUMBER = re.compile(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w.-])")


def readable_numbers(text: str) -> str:
    """A service's message with its numbers as people write them: "760000.00" -> "760,000"."""
    return _NUMBER.sub(lambda m: _grouped(Decimal(m.group(0))), text)


@dataclass
class Row:
    """One line of "check your answers"."""

    question_id: str
    text: str
    answer: str
    answered: bool


@dataclass
class Summary:
    """One section of "check your answers"."""

    id: str
    title: str
    rows: list[Row] = field(default_factory=list)


def summary(view: QuestionnaireView) -> list[Summary]:
    """Every shown question with its answer, section by section."""
    out: list[Summary] = []
    for s in shown_sections(view):
        part = Summary(s["id"], s.get("title") or s["id"])
        for q in s.get("questions", []):
            if q.get("visible"):
                part.rows.append(Row(q["id"], q["text"], shown_answer(q), _answered(q)))
        out.append(part)
    return out


# --- cross-field rules as people type ------------------------------------------------------


@dataclass(frozen=True)
class Running:
    """A rule's running total as the page shows it beside its total question."""

    rule_id: str
    message: str
    parts: tuple[str, ...]
    total: str
    parts_sum: str
    total_value: str | None
    adds_up: bool | None  # None: the total is not answered yet
    #: What the parts on other pages add up to (a script adds the parts on this one).
    elsewhere: str


def running_totals(
    view: QuestionnaireView, values: Mapping[str, Any], on_page: set[str]
) -> dict[str, Running]:
    """Each sum rule's running total, by its total question's id: the parts as the form holds
    them (`values`, by input name) or, for parts not on it, as stored."""
    stored = {q["id"]: q.get("answer") for s in view.get("sections", []) for q in s["questions"]}

    def value_of(qid: str) -> Decimal | None:
        name = f"q.{qid}"
        typed = values[name] if name in values else stored.get(qid)
        if isinstance(typed, list):
            typed = typed[0] if typed else None
        return None if typed is None or typed == "" else _number(typed)

    out: dict[str, Running] = {}
    for rule in view.get("rules", []):
        total = rule.get("total")
        if rule.get("kind") != "sum_equals" or not total:
            continue
        parts = tuple(rule.get("parts", []))
        parts_sum = sum((n for p in parts if (n := value_of(p)) is not None), Decimal(0))
        elsewhere = sum(
            (n for p in parts if p not in on_page and (n := value_of(p)) is not None), Decimal(0)
        )
        total_value = value_of(total)
        out[total] = Running(
            rule["id"],
            rule.get("message", ""),
            parts,
            total,
            _grouped(parts_sum),
            None if total_value is None else _grouped(total_value),
            None if total_value is None else parts_sum == total_value,
            str(elsewhere),
        )
    return out


@dataclass(frozen=True)
class Limit:
    """A "no more than" rule (`less_or_equal`: a part must not exceed its whole) as the page
    shows it beside the part's question: the whole it is held to, and the rule's message while
    the part is over it."""

    rule_id: str
    message: str
    left: str
    right: str
    #: The whole's question, in its own words.
    right_text: str
    #: The whole as the form holds it or as stored; None while it is not answered.
    right_value: str | None
    #: The whole as stored, for a script when the whole's question is on another page.
    right_stored: str
    within: bool | None  # None: one of the two is not answered yet


def rule_limits(
    view: QuestionnaireView, values: Mapping[str, Any], on_page: set[str]
) -> dict[str, Limit]:
    """Each `less_or_equal` rule whose part (`left`) is on the page, by that question's id:
    the whole (`right`) as the form holds it or, when it is on another page, as stored."""
    stored = {q["id"]: q.get("answer") for s in view.get("sections", []) for q in s["questions"]}
    texts = {
        q["id"]: q.get("text", q["id"]) for s in view.get("sections", []) for q in s["questions"]
    }

    def value_of(qid: str) -> Decimal | None:
        name = f"q.{qid}"
        typed = values[name] if name in values else stored.get(qid)
        if isinstance(typed, list):
            typed = typed[0] if typed else None
        return None if typed is None or typed == "" else _number(typed)

    out: dict[str, Limit] = {}
    for rule in view.get("rules", []):
        left, right = rule.get("left"), rule.get("right")
        if rule.get("kind") != "less_or_equal" or not left or not right or left not in on_page:
            continue
        part, whole = value_of(left), value_of(right)
        kept = stored.get(right)
        out[left] = Limit(
            rule["id"],
            rule.get("message", ""),
            left,
            right,
            str(texts.get(right, right)),
            None if whole is None else _grouped(whole),
            "" if kept is None else str(kept),
            None if part is None or whole is None else part <= whole,
        )
    return out
