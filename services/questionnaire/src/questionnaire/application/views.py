"""A questionnaire as people see it: every section and question with its answer, whether it is
shown, what is missing, which rules fail and, for the self-assessment, the grades. The sandbox
and saved questionnaires render through this one function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from csm_kernel.http import json_bytes

from ..domain.answers import Evaluation, evaluate
from ..domain.definition import Definition, Question, Rule


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


#: The parts of a rendered definition that never change, by `id@version`.
_STATIC: dict[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]] = {}


def _static(definition: Definition) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    cached = _STATIC.get(definition.ref)
    if cached is None:
        cached = []
        for s in definition.sections:
            section: dict[str, Any] = {"id": s.id, "title": s.title}
            if s.help:
                section["help"] = s.help
            if s.objectives:
                section["objectives"] = list(s.objectives)
            cached.append((section, [_question(q, None, False) for q in s.questions]))
        _STATIC[definition.ref] = cached
    return cached


def render(
    definition: Definition, answers: Mapping[str, Any], evaluation: Evaluation | None = None
) -> dict[str, Any]:
    """The definition filled in with `answers` (stored answers: hidden ones included)."""
    ev = evaluation or evaluate(definition, answers)
    shown = ev.shown
    grades = ev.grades
    sections = []
    for static_section, static_questions in _static(definition):
        questions = [
            {**q, "visible": q["id"] in shown, "answer": answers.get(q["id"])}
            for q in static_questions
        ]
        section = {
            **static_section,
            "visible": any(q["visible"] for q in questions),
            "questions": questions,
        }
        if grades is not None:
            grade = grades.topics.get(static_section["id"])
            section["grade"] = grade.value if grade else None
        sections.append(section)
    out: dict[str, Any] = {
        "definition": definition.ref,
        "kind": definition.kind.value,
        "definition_title": definition.title,
        "sections": sections,
        **summary(ev),
    }
    if definition.description:
        out["description"] = definition.description
    if definition.rules:
        out["rules"] = [_rule(r) for r in definition.rules]
    return out


def _rule(rule: Rule) -> dict[str, Any]:
    """A cross-field rule as pages show it while people type (a running total)."""
    out: dict[str, Any] = {"id": rule.id, "kind": rule.kind.value, "message": rule.message}
    if rule.parts:
        out["parts"] = list(rule.parts)
    for key in ("total", "left", "right"):
        value = getattr(rule, key)
        if value is not None:
            out[key] = value
    return out


def summary(ev: Evaluation) -> dict[str, Any]:
    """What the answers come to, without the questions: for a save's reply."""
    out: dict[str, Any] = {
        "missing": [p.as_dict() for p in ev.missing],
        "warnings": [p.as_dict() for p in ev.warnings],
        "answered": len(ev.effective),
        "questions_shown": len(ev.shown),
    }
    if ev.grades is not None:
        out["grades"] = {
            "topics": {k: (v.value if v else None) for k, v in ev.grades.topics.items()},
            "overall": ev.grades.overall.value if ev.grades.overall else None,
        }
    return out


class RenderedCache:
    """A questionnaire's rendering as JSON bytes, with its evaluation, by (id, version).

    What `render` gives depends only on the definition and the answers, and both are fixed by
    the questionnaire's id and stream version, so a repeated load (a lead reopening the page, a
    delegate and the lead reading the same version) skips evaluating, rendering and
    serialising ~50 KB again (~0.25 ms of a self-assessment's load). The per-caller state is
    serialised on every load and spliced in (their keys never overlap). Bounded: oldest out.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: dict[tuple[str, int], tuple[bytes, Evaluation]] = {}

    def get(
        self, key: tuple[str, int], build: Callable[[], tuple[dict[str, Any], Evaluation]]
    ) -> tuple[bytes, Evaluation]:
        found = self._entries.get(key)
        if found is None:
            rendered, ev = build()
            found = (json_bytes(rendered), ev)
            if len(self._entries) >= self.size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = found
        return found


def splice(rendered: bytes, state: dict[str, Any]) -> bytes:
    """One JSON object from a serialised one and a dict with other keys."""
    return rendered[:-1] + b"," + json_bytes(state)[1:]
