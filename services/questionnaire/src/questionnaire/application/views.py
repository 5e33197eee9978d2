"""A questionnaire as people see it: every section and question with its answer, whether it is
shown, what is missing, which rules fail and, for the self-assessment, the grades. The sandbox
and saved questionnaires render through this one function."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ..domain import answers as rules
from ..domain.definition import Definition, Question


def _question(q: Question, answer: Any, shown: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": q.id,
        "type": q.type.value,
        "text": q.text,
        "required": q.required,
        "visible": shown,
        "answer": answer,
    }
    if q.help:
        out["help"] = q.help
    if q.options:
        out["options"] = [{"value": o.value, "label": o.label} for o in q.options]
    for key in ("min", "max"):
        value = getattr(q, key)
        if value is not None:
            out[key] = value.isoformat() if isinstance(value, date) else value
    if q.levels:
        out["levels"] = {str(k): v for k, v in q.levels.items()}
    if q.criteria:
        out["criteria"] = {str(k): v for k, v in q.criteria.items()}
    if q.evidence:
        out["evidence"] = list(q.evidence)
    if q.show_if is not None:
        out["show_if"] = q.show_if.source
    if q.type.value == "text":
        out["max_length"] = q.max_length
        out["multiline"] = q.multiline
    return out


def render(definition: Definition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The definition filled in with `answers` (stored answers: hidden ones included)."""
    shown = rules.visible(definition, answers)
    grades = rules.grades(definition, answers)
    sections = []
    for s in definition.sections:
        questions = [_question(q, answers.get(q.id), q.id in shown) for q in s.questions]
        section: dict[str, Any] = {
            "id": s.id,
            "title": s.title,
            "visible": any(q["visible"] for q in questions),
            "questions": questions,
        }
        if s.help:
            section["help"] = s.help
        if s.objectives:
            section["objectives"] = list(s.objectives)
        if grades is not None:
            grade = grades.topics.get(s.id)
            section["grade"] = grade.value if grade else None
        sections.append(section)
    out: dict[str, Any] = {
        "definition": definition.ref,
        "kind": definition.kind.value,
        "definition_title": definition.title,
        "sections": sections,
        "missing": [p.as_dict() for p in rules.missing(definition, answers)],
        "warnings": [p.as_dict() for p in rules.rule_problems(definition, answers)],
        "answered": rules.answer_count(definition, answers),
        "questions_shown": len(shown),
    }
    if definition.description:
        out["description"] = definition.description
    if grades is not None:
        out["grades"] = {
            "topics": {k: (v.value if v else None) for k, v in grades.topics.items()},
            "overall": grades.overall.value if grades.overall else None,
        }
    return out
