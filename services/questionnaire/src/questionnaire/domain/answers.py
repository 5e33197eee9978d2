"""Answers against a definition: each value checked and normalised, what is shown, what is
missing, which cross-field rules fail, and the grades. Pure: the sandbox and the saved
questionnaires run exactly this.

Stored answers keep every question ever answered. Only the *effective* answers count (those of
questions shown under the current answers): a follow-up hidden by a later change keeps its
answer in history, but it is neither required nor summed nor submitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from csm_contracts.events import NI51AreaScore

from .definition import (
    NI51_QUESTIONS,
    NUMERIC,
    Definition,
    DefinitionKind,
    Question,
    QuestionType,
    Rule,
    RuleKind,
)
from .grading import Grade, overall_grade, topic_grade
from .ni51 import ni51_score


@dataclass(frozen=True)
class Problem:
    """What is wrong with one question's answer (or a rule over several)."""

    question: str
    reason: str
    rule: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"question": self.question, "reason": self.reason}
        if self.rule:
            out["rule"] = self.rule
        return out


class AnswerError(ValueError):
    """Answers that cannot be saved, every problem listed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.question}: {p.reason}" for p in problems))
        self.problems = problems


# --- one value ----------------------------------------------------------------------------------


def normalise(q: Question, value: Any) -> Any:
    """The stored form of an answer, or ValueError saying why it is not one. None clears."""
    if value is None:
        return None
    t = q.type
    if t is QuestionType.SINGLE_CHOICE:
        if not isinstance(value, str) or value not in q.option_values:
            raise ValueError(f"choose one of: {', '.join(o.value for o in q.options)}")
        return value
    if t is QuestionType.MULTIPLE_CHOICE:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("give a list of choices")
        unknown = [v for v in value if v not in q.option_values]
        if unknown:
            raise ValueError(f"not an option: {', '.join(unknown)}")
        chosen = [o.value for o in q.options if o.value in value]  # in the options' order
        if not chosen:
            return None  # nothing chosen is no answer (a required question stays missing)
        if q.min_selected is not None and len(chosen) < q.min_selected:
            raise ValueError(f"choose at least {q.min_selected}")
        if q.max_selected is not None and len(chosen) > q.max_selected:
            raise ValueError(f"choose at most {q.max_selected}")
        return chosen
    if t is QuestionType.YES_NO:
        if not isinstance(value, bool):
            raise ValueError("answer true (yes) or false (no)")
        return value
    if t is QuestionType.INTEGER:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("must be a whole number")
        _in_bounds(q, value)
        return value
    if t in (QuestionType.DECIMAL, QuestionType.PERCENTAGE, QuestionType.MONEY):
        number = _decimal(value)
        places = 2 if t is not QuestionType.DECIMAL else q.decimals
        exponent = number.normalize().as_tuple().exponent  # 3.0 and 1.500 are fine
        if isinstance(exponent, int) and -exponent > places:
            raise ValueError(f"at most {places} decimal places")
        _in_bounds(q, number)
        if t is QuestionType.MONEY:
            return f"{number:.2f}"  # pounds and pence, exact, as text
        return float(number) if number != number.to_integral_value() else int(number)
    if t is QuestionType.DATE:
        if not isinstance(value, str):
            raise ValueError("must be a date, YYYY-MM-DD")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date, YYYY-MM-DD") from None
        _in_bounds(q, day)
        return day.isoformat()
    if t is QuestionType.TEXT:
        if not isinstance(value, str):
            raise ValueError("must be text")
        text = value.strip()
        if len(text) > q.max_length:
            raise ValueError(f"at most {q.max_length} characters")
        return text or None
    # A scored scale: the score, and the evidence that supports it.
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"score": value}
    if not isinstance(value, dict) or set(value) - {"score", "evidence"}:
        raise ValueError("give {score, evidence}")
    score, evidence = value.get("score"), value.get("evidence")
    if not isinstance(score, int) or isinstance(score, bool) or score not in q.levels:
        raise ValueError(f"score must be one of {', '.join(str(k) for k in q.levels)}")
    if evidence is not None and (not isinstance(evidence, str) or len(evidence) > 4000):
        raise ValueError("evidence is text of at most 4000 characters")
    return {"score": score, "evidence": (evidence or "").strip() or None}


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number")
    try:
        number = Decimal(str(value).strip().replace(",", "")) if isinstance(value, str) else None
        if number is None:
            number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a number")
    return number


#: The bounds of a number whose question sets none: beyond any count, WTE or sum of money this
#: collection asks for, and far inside what every store and reader holds (a 64-bit integer,
#: a PostgreSQL numeric, a float's exact integers).
NUMBER_LIMIT = 10**12


def _in_bounds(q: Question, value: Any) -> None:
    if q.type in NUMERIC:
        low = -NUMBER_LIMIT if q.min is None else q.min
        high = NUMBER_LIMIT if q.max is None else q.max
    else:
        low, high = q.min, q.max
    # Numbers compare as exact decimals (0.1 is not 0.1000000000000000055...).
    if isinstance(low, int | float):
        low = Decimal(str(low))
    if isinstance(high, int | float):
        high = Decimal(str(high))
    if low is not None and value < low:
        raise ValueError(f"must be at least {low}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high}")


# --- a whole questionnaire ----------------------------------------------------------------------


def _as_compared(q: Question, value: Any) -> Any:
    """How a condition sees an answer: a scored scale by its score, money as a number."""
    if value is None:
        return None
    if q.type is QuestionType.SCORED_SCALE:
        return value.get("score")
    if q.type is QuestionType.MONEY:
        return float(value)
    return value


def visible(definition: Definition, answers: Mapping[str, Any]) -> set[str]:
    """The ids of the questions shown under these answers. A condition sees a hidden question
    as unanswered, so a follow-up of a hidden follow-up is hidden too."""
    questions = definition.questions
    conditions_of = definition.conditions_of
    memo: dict[str, bool] = {}

    def shown(qid: str) -> bool:
        found = memo.get(qid)
        if found is None:
            conditions = conditions_of[qid]
            if not conditions:
                memo[qid] = True
                return True
            memo[qid] = False  # conditions are acyclic (checked at load); guards anyway
            found = memo[qid] = all(c.evaluate(_view(c.references)) for c in conditions)
        return found

    def _view(references: frozenset[str]) -> dict[str, Any]:
        return {
            r: _as_compared(questions[r], answers.get(r)) if shown(r) else None for r in references
        }

    return {qid for qid in questions if shown(qid)}


def effective(definition: Definition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers that count: those of shown questions, in the definition's order."""
    shown = visible(definition, answers)
    return {
        qid: answers[qid]
        for qid in definition.questions
        if qid in shown and answers.get(qid) is not None
    }


def apply(
    definition: Definition, current: Mapping[str, Any], changes: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """New answers after `changes`, and what changed (question -> (old, new)).

    `AnswerError` lists every problem: an unknown question, a value of the wrong type or out of
    range, or an answer to a question the answers (with these changes) do not show."""
    questions = definition.questions
    problems: list[Problem] = []
    normalised: dict[str, Any] = {}
    for qid, value in changes.items():
        q = questions.get(qid)
        if q is None:
            problems.append(Problem(qid, f"there is no question {qid} in {definition.ref}"))
            continue
        try:
            normalised[qid] = normalise(q, value)
        except ValueError as exc:
            problems.append(Problem(qid, str(exc)))
    if problems:
        raise AnswerError(problems)
    after = {**current, **normalised}
    shown = visible(definition, after)
    for qid, value in normalised.items():
        if value is not None and qid not in shown:
            problems.append(Problem(qid, _hidden_reason(definition, questions[qid], after, shown)))
    if problems:
        raise AnswerError(problems)
    changed = {
        qid: (current.get(qid), value)
        for qid, value in normalised.items()
        if current.get(qid) != value
    }
    return {k: v for k, v in after.items() if v is not None}, changed


def _hidden_reason(
    definition: Definition, q: Question, answers: Mapping[str, Any], shown: set[str]
) -> str:
    """Why `q` is not asked: the first of its section's and its own conditions that fails."""
    questions = definition.questions
    for condition in (definition.section_of(q.id).show_if, q.show_if):
        if condition is None:
            continue
        view = {
            r: _as_compared(questions[r], answers.get(r)) if r in shown else None
            for r in condition.references
        }
        if not condition.evaluate(view):
            return f"not asked: it is shown only when {condition.source}"
    return "not asked"


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


def _check_rule(rule: Rule, answers: Mapping[str, Any]) -> Problem | None:
    if rule.kind is RuleKind.SUM_EQUALS:
        assert rule.total is not None
        if rule.total not in answers:
            return None
        parts = sum((_number(answers[p]) for p in rule.parts if p in answers), Decimal(0))
        total = _number(answers[rule.total])
        if parts != total:  # exact: the answers are exact decimals
            return Problem(
                rule.total,
                f"{rule.message} (the parts add up to {parts}, the total is {total})",
                rule.id,
            )
        return None
    assert rule.left is not None and rule.right is not None
    if rule.left in answers and rule.right in answers:
        left, right = _number(answers[rule.left]), _number(answers[rule.right])
        if left > right:
            return Problem(rule.left, f"{rule.message} ({left} is more than {right})", rule.id)
    return None


def missing(definition: Definition, answers: Mapping[str, Any]) -> list[Problem]:
    """Required questions that are shown and unanswered, in order."""
    return evaluate(definition, answers).missing


def rule_problems(definition: Definition, answers: Mapping[str, Any]) -> list[Problem]:
    """The cross-field rules the effective answers break."""
    return evaluate(definition, answers).warnings


def submission_problems(definition: Definition, answers: Mapping[str, Any]) -> list[Problem]:
    """Everything that stops a submission: missing required answers, then broken rules."""
    return evaluate(definition, answers).problems


@dataclass(frozen=True)
class Grades:
    """The self-assessment's scorecard: each topic's grade and the overall grade."""

    topics: dict[str, Grade | None]
    overall: Grade | None


def grades(definition: Definition, answers: Mapping[str, Any]) -> Grades | None:
    """The scorecard, for a self-assessment (None for other kinds)."""
    return evaluate(definition, answers).grades


def ni51(definition: Definition, area: str, answers: Mapping[str, Any]) -> NI51AreaScore | None:
    """The area's NI 51, for a CAMHS partnership questionnaire with all four answered."""
    return evaluate(definition, answers).ni51(area)


def answer_count(definition: Definition, answers: Mapping[str, Any]) -> int:
    return len(effective(definition, answers))


@dataclass(frozen=True)
class Evaluation:
    """Everything the answers say under a definition, worked out once: what is shown, what
    counts, what is missing, which rules fail, and the grades."""

    definition: Definition
    shown: frozenset[str]
    effective: dict[str, Any]
    missing: list[Problem]
    warnings: list[Problem]
    grades: Grades | None

    @property
    def problems(self) -> list[Problem]:
        """What stops a submission: missing required answers, then broken rules."""
        return self.missing + self.warnings

    def ni51(self, area: str) -> NI51AreaScore | None:
        """The area's NI 51, for a CAMHS partnership questionnaire with all four answered."""
        if self.definition.kind is not DefinitionKind.CAMHS_PARTNERSHIP:
            return None
        if not all(q in self.effective for q in NI51_QUESTIONS):
            return None
        return ni51_score(area, {q: self.effective[q]["score"] for q in NI51_QUESTIONS})


def evaluate(definition: Definition, answers: Mapping[str, Any]) -> Evaluation:
    """Evaluate stored answers against their definition (visibility computed once)."""
    shown = visible(definition, answers)
    counted = {
        qid: answers[qid]
        for qid in definition.questions
        if qid in shown and answers.get(qid) is not None
    }
    missing = [
        Problem(q.id, "an answer is required")
        for q in definition.questions.values()
        if q.required and q.id in shown and q.id not in counted
    ]
    warnings = [p for rule in definition.rules if (p := _check_rule(rule, counted)) is not None]
    scorecard = None
    if definition.kind is DefinitionKind.SELF_ASSESSMENT:
        topics = {
            s.id: topic_grade(
                counted[q.id]["score"]
                for q in s.questions
                if q.id in counted and q.type is QuestionType.SCORED_SCALE
            )
            for s in definition.sections
        }
        overall = overall_grade(list(topics.values())) if len(topics) == 6 else None
        scorecard = Grades(topics, overall)
    return Evaluation(definition, frozenset(shown), counted, missing, warnings, scorecard)
