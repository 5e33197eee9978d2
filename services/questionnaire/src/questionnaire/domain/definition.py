"""Questionnaire definitions: what is asked, of what type, when it is shown, what must hold.

Definitions are YAML files in `questionnaire/definitions/` (the format is described in
docs/questionnaire.md). `load_definition` checks a file completely before anything uses it and
raises `DefinitionError` naming the file and line of the first problem: an unknown key or type,
a duplicate id, a condition outside the safe language, naming an unknown question, never true,
or part of a cycle of conditions. A bad definition never reaches a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .conditions import Condition, ConditionError, cycle_in, parse
from .feasibility import never_true

#: NI 51's four questions (DESIGN.md section 8), by id.
NI51_QUESTIONS = (
    "learning_disabilities",
    "urgent_24_hour_cover",
    "age_16_17",
    "early_intervention",
)


class QuestionType(StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    YES_NO = "yes_no"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    PERCENTAGE = "percentage"
    DATE = "date"
    TEXT = "text"
    SCORED_SCALE = "scored_scale"


NUMERIC = frozenset(
    {QuestionType.INTEGER, QuestionType.DECIMAL, QuestionType.MONEY, QuestionType.PERCENTAGE}
)
CHOICE = frozenset({QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE})


class DefinitionKind(StrEnum):
    SERVICE = "service"
    CAMHS_PARTNERSHIP = "camhs-partnership"
    CHILDRENS_TRUST = "childrens-trust"
    SELF_ASSESSMENT = "self-assessment"


class DefinitionError(ValueError):
    """A definition file that cannot be used, with where and why."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Question:
    id: str
    type: QuestionType
    text: str
    section: str
    line: int
    help: str | None = None
    required: bool = False
    options: tuple[Option, ...] = ()
    min: Any = None
    max: Any = None
    decimals: int = 2
    max_length: int = 4000
    multiline: bool = False
    min_selected: int | None = None
    max_selected: int | None = None
    #: scored_scale: score -> label, and score -> criteria text.
    levels: dict[int, str] = field(default_factory=dict)
    criteria: dict[int, str] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()
    show_if: Condition | None = None

    @property
    def option_values(self) -> frozenset[str]:
        return frozenset(o.value for o in self.options)


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    questions: tuple[Question, ...]
    help: str | None = None
    objectives: tuple[str, ...] = ()
    show_if: Condition | None = None


class RuleKind(StrEnum):
    SUM_EQUALS = "sum_equals"
    LESS_OR_EQUAL = "less_or_equal"


@dataclass(frozen=True)
class Rule:
    """A cross-field rule: checked on submit, reported as a warning while drafting."""

    id: str
    kind: RuleKind
    message: str
    #: sum_equals: parts and total; less_or_equal: left and right.
    parts: tuple[str, ...] = ()
    total: str | None = None
    left: str | None = None
    right: str | None = None
    line: int | None = None

    @property
    def questions(self) -> tuple[str, ...]:
        named = (self.total, self.left, self.right)
        return (*self.parts, *(q for q in named if q is not None))


@dataclass(frozen=True)
class Definition:
    id: str
    version: int
    title: str
    kind: DefinitionKind
    sections: tuple[Section, ...]
    rules: tuple[Rule, ...] = ()
    description: str | None = None
    source: str | None = None

    @property
    def ref(self) -> str:
        """`id@version`, as questionnaire instances and events name it."""
        return f"{self.id}@{self.version}"

    @cached_property
    def questions(self) -> dict[str, Question]:
        """Every question by id, in the order they are asked."""
        return {q.id: q for s in self.sections for q in s.questions}

    @cached_property
    def _sections_by_question(self) -> dict[str, Section]:
        return {q.id: s for s in self.sections for q in s.questions}

    def section_of(self, question_id: str) -> Section:
        return self._sections_by_question[question_id]

    @cached_property
    def conditions_of(self) -> dict[str, tuple[Condition, ...]]:
        """Each question's conditions (its section's, then its own; none: always shown). Built
        once: every save and load asks it of every question."""
        return {
            q.id: tuple(c for c in (s.show_if, q.show_if) if c is not None)
            for s in self.sections
            for q in s.questions
        }


# --- loading ------------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Remembers the line of every mapping, so errors can say where."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_DEFINITION_KEYS = {
    "id",
    "version",
    "title",
    "kind",
    "description",
    "source",
    "scale",
    "sections",
    "rules",
}
_SECTION_KEYS = {"id", "title", "help", "objectives", "show_if", "questions"}
_QUESTION_KEYS = {
    "id",
    "type",
    "text",
    "help",
    "required",
    "options",
    "show_if",
    "min",
    "max",
    "decimals",
    "max_length",
    "multiline",
    "min_selected",
    "max_selected",
    "levels",
    "criteria",
    "evidence",
}
_RULE_KEYS = {"id", "kind", "message", "parts", "total", "left", "right"}
_ID = r"^[a-z][a-z0-9_]*$"


class _Reader:
    """Builds a `Definition` from parsed YAML, failing at the first problem with its line."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, node: Any, message: str) -> DefinitionError:
        line = node.get("__line__") if isinstance(node, dict) else None
        return DefinitionError(self.file, line, message)

    def mapping(self, node: Any, what: str, allowed: set[str], parent: Any) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise self.fail(parent, f"{what} must be a mapping")
        unknown = sorted(str(k) for k in node if k != "__line__" and k not in allowed)
        if unknown:
            raise self.fail(node, f"{what}: unknown key(s) {', '.join(unknown)}")
        return node

    def text(self, node: dict[str, Any], key: str, what: str, *, optional: bool = False) -> Any:
        value = node.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, f"{what}: '{key}' must be non-empty text")
        return value.strip()

    def ident(self, node: dict[str, Any], what: str, seen: set[str]) -> str:
        value = node.get("id")
        if not isinstance(value, str) or not re.fullmatch(_ID, value):
            raise self.fail(node, f"{what}: id {value!r} must be snake_case (a-z, 0-9, _)")
        if value in seen:
            raise self.fail(node, f"{what}: duplicate id {value!r}")
        seen.add(value)
        return value

    def definition(self, raw: Any) -> Definition:
        if not isinstance(raw, dict):
            raise DefinitionError(self.file, 1, "a definition must be a mapping")
        doc = self.mapping(raw, "definition", _DEFINITION_KEYS, raw)
        def_id = doc.get("id")
        if not isinstance(def_id, str) or not def_id:
            raise self.fail(doc, "definition: 'id' is required")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail(doc, "definition: 'version' must be a whole number from 1")
        kind_raw = doc.get("kind", "self-assessment" if "scale" in doc else None)
        try:
            kind = DefinitionKind(str(kind_raw))
        except ValueError:
            known = ", ".join(k.value for k in DefinitionKind)
            raise self.fail(doc, f"definition: kind {kind_raw!r} is not one of {known}") from None
        scale = self.levels(doc, doc.get("scale"), "definition scale") if "scale" in doc else None
        raw_sections = doc.get("sections")
        if not isinstance(raw_sections, list) or not raw_sections:
            raise self.fail(doc, "definition: 'sections' must be a non-empty list")
        section_ids: set[str] = set()
        question_ids: set[str] = set()
        pending: list[tuple[dict[str, Any], list[tuple[dict[str, Any], Question]]]] = []
        for raw_section in raw_sections:
            section = self.mapping(raw_section, "section", _SECTION_KEYS, doc)
            self.ident(section, "section", section_ids)
            questions = section.get("questions")
            if not isinstance(questions, list) or not questions:
                raise self.fail(section, f"section {section['id']}: 'questions' must be a list")
            built = [
                (q, self.question(q, section, question_ids, scale))
                for q in (self.mapping(q, "question", _QUESTION_KEYS, section) for q in questions)
            ]
            pending.append((section, built))
        # Conditions can name any question in the file, so they are parsed once all are known.
        sections: list[Section] = []
        for section, built in pending:
            section_condition = self.condition(section, question_ids, "section")
            final = []
            for raw_question, question in built:
                condition = self.condition(raw_question, question_ids, f"question {question.id}")
                final.append(_with(question, show_if=condition))
            sections.append(
                Section(
                    id=section["id"],
                    title=self.text(section, "title", f"section {section['id']}"),
                    help=self.text(section, "help", "section", optional=True),
                    objectives=tuple(self.strings(section, "objectives")),
                    show_if=section_condition,
                    questions=tuple(final),
                )
            )
        definition = Definition(
            id=def_id,
            version=version,
            title=self.text(doc, "title", "definition"),
            kind=kind,
            description=self.text(doc, "description", "definition", optional=True),
            source=self.text(doc, "source", "definition", optional=True),
            sections=tuple(sections),
            rules=tuple(self.rules(doc, question_ids)),
        )
        self.check_conditions(definition, raw_sections)
        self.check_kind(definition, doc)
        return definition

    def check_kind(self, definition: Definition, doc: dict[str, Any]) -> None:
        """What the grades and NI 51 rely on: a self-assessment scores 1-3 throughout; a CAMHS
        partnership questionnaire asks the four NI 51 questions, each scored 1-4."""
        questions = definition.questions
        if definition.kind is DefinitionKind.SELF_ASSESSMENT:
            for q in questions.values():
                if q.type is not QuestionType.SCORED_SCALE or set(q.levels) != {1, 2, 3}:
                    raise DefinitionError(
                        self.file,
                        q.line,
                        f"question {q.id}: a self-assessment "
                        "question is a scored scale of 1, 2 and 3",
                    )
        if definition.kind is DefinitionKind.CAMHS_PARTNERSHIP:
            for qid in NI51_QUESTIONS:
                asked = questions.get(qid)
                if asked is None:
                    raise self.fail(doc, f"a CAMHS partnership questionnaire asks NI 51's {qid}")
                if asked.type is not QuestionType.SCORED_SCALE or set(asked.levels) != {1, 2, 3, 4}:
                    raise DefinitionError(
                        self.file,
                        asked.line,
                        f"question {qid}: NI 51 questions are scored scales of 1 to 4",
                    )

    def strings(self, node: dict[str, Any], key: str) -> list[str]:
        value = node.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(node, f"'{key}' must be a list of texts")
        return [v.strip() for v in value]

    def levels(self, node: dict[str, Any], value: Any, what: str) -> dict[int, str]:
        if not isinstance(value, dict):
            raise self.fail(node, f"{what}: must map whole-number scores to labels")
        levels = {k: v for k, v in value.items() if k != "__line__"}
        if not levels or not all(
            isinstance(k, int) and not isinstance(k, bool) and isinstance(v, str) and v.strip()
            for k, v in levels.items()
        ):
            raise self.fail(node, f"{what}: must map whole-number scores to labels")
        return {k: v.strip() for k, v in sorted(levels.items())}

    def question(
        self,
        q: dict[str, Any],
        section: dict[str, Any],
        seen: set[str],
        scale: dict[int, str] | None,
    ) -> Question:
        qid = self.ident(q, "question", seen)
        what = f"question {qid}"
        type_raw = q.get("type", "scored_scale" if scale is not None else None)
        try:
            qtype = QuestionType(str(type_raw))
        except ValueError:
            known = ", ".join(t.value for t in QuestionType)
            raise self.fail(q, f"{what}: type {type_raw!r} is not one of {known}") from None
        required = q.get("required", kind_required(scale))
        if not isinstance(required, bool):
            raise self.fail(q, f"{what}: 'required' must be true or false")
        kwargs: dict[str, Any] = {}
        if qtype in CHOICE:
            kwargs["options"] = self.options(q, what)
            for key in ("min_selected", "max_selected"):
                if key in q:
                    if qtype is not QuestionType.MULTIPLE_CHOICE or not _whole(q[key]):
                        raise self.fail(q, f"{what}: '{key}' is a whole number, multiple choice")
                    kwargs[key] = q[key]
        elif "options" in q:
            raise self.fail(q, f"{what}: only choice questions have options")
        if qtype in NUMERIC or qtype is QuestionType.DATE:
            kwargs.update(self.bounds(q, what, qtype))
        elif "min" in q or "max" in q:
            raise self.fail(q, f"{what}: {qtype.value} questions have no min or max")
        if "decimals" in q:
            if qtype is not QuestionType.DECIMAL or not _whole(q["decimals"]):
                raise self.fail(q, f"{what}: 'decimals' is a whole number, decimal questions only")
            kwargs["decimals"] = q["decimals"]
        if qtype is QuestionType.TEXT:
            if "max_length" in q:
                if not _whole(q["max_length"]) or q["max_length"] < 1:
                    raise self.fail(q, f"{what}: 'max_length' must be a positive whole number")
                kwargs["max_length"] = q["max_length"]
            kwargs["multiline"] = bool(q.get("multiline", False))
        if qtype is QuestionType.SCORED_SCALE:
            levels = self.levels(q, q["levels"], what) if "levels" in q else scale
            if not levels:
                raise self.fail(q, f"{what}: a scored scale needs 'levels'")
            kwargs["levels"] = levels
            if "criteria" in q:
                criteria = self.levels(q, q["criteria"], f"{what} criteria")
                if set(criteria) != set(levels):
                    raise self.fail(q, f"{what}: criteria must be given for each level")
                kwargs["criteria"] = criteria
            kwargs["evidence"] = tuple(self.strings(q, "evidence"))
        elif any(k in q for k in ("levels", "criteria", "evidence")):
            raise self.fail(q, f"{what}: only scored scales have levels, criteria or evidence")
        return Question(
            id=qid,
            type=qtype,
            text=self.text(q, "text", what),
            help=self.text(q, "help", what, optional=True),
            required=required,
            section=section["id"],
            line=q["__line__"],
            **kwargs,
        )

    def options(self, q: dict[str, Any], what: str) -> tuple[Option, ...]:
        raw = q.get("options")
        if not isinstance(raw, list) or not raw:
            raise self.fail(q, f"{what}: a choice question needs a list of options")
        options: list[Option] = []
        for item in raw:
            if isinstance(item, dict):
                value, label = item.get("value"), item.get("label")
            else:
                value, label = item, item
            if not isinstance(value, str) or not value or not isinstance(label, str):
                raise self.fail(q, f"{what}: each option is text or {{value, label}} with text")
            if any(o.value == value for o in options):
                raise self.fail(q, f"{what}: duplicate option {value!r}")
            options.append(Option(value, label))
        return tuple(options)

    def bounds(self, q: dict[str, Any], what: str, qtype: QuestionType) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if qtype in (QuestionType.INTEGER, QuestionType.MONEY):
            out["min"] = 0
        if qtype is QuestionType.PERCENTAGE:
            out["min"], out["max"] = 0, 100
        for key in ("min", "max"):
            if key not in q:
                continue
            value = q[key]
            if qtype is QuestionType.DATE:
                if isinstance(value, str):
                    try:
                        value = date.fromisoformat(value)
                    except ValueError:
                        value = None
                if not isinstance(value, date):
                    raise self.fail(q, f"{what}: '{key}' must be an ISO date (YYYY-MM-DD)")
            elif not isinstance(value, int | float) or isinstance(value, bool):
                raise self.fail(q, f"{what}: '{key}' must be a number")
            out[key] = value
        if out.get("min") is not None and out.get("max") is not None and out["min"] > out["max"]:
            raise self.fail(q, f"{what}: min is above max")
        return out

    def condition(self, node: dict[str, Any], known: set[str], what: str) -> Condition | None:
        source = node.get("show_if")
        if source is None:
            return None
        if not isinstance(source, str):
            raise self.fail(node, f"{what}: show_if must be text")
        try:
            return parse(source, known)
        except ConditionError as exc:
            raise self.fail(node, f"{what}: show_if {source!r}: {exc}") from None

    def rules(self, doc: dict[str, Any], known: set[str]) -> list[Rule]:
        raw = doc.get("rules", [])
        if not isinstance(raw, list):
            raise self.fail(doc, "'rules' must be a list")
        seen: set[str] = set()
        rules = []
        for item in raw:
            r = self.mapping(item, "rule", _RULE_KEYS, doc)
            rid = self.ident(r, "rule", seen)
            try:
                kind = RuleKind(str(r.get("kind")))
            except ValueError:
                known_kinds = ", ".join(k.value for k in RuleKind)
                raise self.fail(r, f"rule {rid}: kind must be one of {known_kinds}") from None
            if kind is RuleKind.SUM_EQUALS:
                parts = r.get("parts")
                if (
                    not isinstance(parts, list)
                    or len(parts) < 2
                    or not all(isinstance(p, str) and p for p in (*parts, r.get("total")))
                ):
                    raise self.fail(r, f"rule {rid}: sum_equals needs 'parts' (2+) and 'total'")
                rule = Rule(
                    rid,
                    kind,
                    self.text(r, "message", f"rule {rid}"),
                    parts=tuple(parts),
                    total=r["total"],
                    line=r["__line__"],
                )
            else:
                if not all(isinstance(r.get(k), str) and r[k] for k in ("left", "right")):
                    raise self.fail(r, f"rule {rid}: less_or_equal needs 'left' and 'right'")
                rule = Rule(
                    rid,
                    kind,
                    self.text(r, "message", f"rule {rid}"),
                    left=r["left"],
                    right=r["right"],
                    line=r["__line__"],
                )
            unknown = sorted(set(rule.questions) - known)
            if unknown:
                raise self.fail(r, f"rule {rid}: unknown question(s) {', '.join(unknown)}")
            rules.append(rule)
        return rules

    def check_conditions(self, definition: Definition, raw_sections: list[Any]) -> None:
        questions = definition.questions
        raw_by_id: dict[str, dict[str, Any]] = {
            q["id"]: q for s in raw_sections for q in s["questions"]
        }
        raw_sections_by_id = {s["id"]: s for s in raw_sections}
        for rule in definition.rules:
            for qid in rule.questions:
                if questions[qid].type not in NUMERIC:
                    raise DefinitionError(
                        self.file, rule.line, f"rule {rule.id}: question {qid} is not a number"
                    )
        dependencies: dict[str, frozenset[str]] = {}
        for section in definition.sections:
            for question in section.questions:
                refs: set[str] = set()
                for condition, node in (
                    (section.show_if, raw_sections_by_id[section.id]),
                    (question.show_if, raw_by_id[question.id]),
                ):
                    if condition is None:
                        continue
                    reason = never_true(condition, questions)
                    if reason:
                        raise self.fail(
                            node, f"show_if {condition.source!r} can never be true: {reason}"
                        )
                    refs |= condition.references
                if question.id in refs:
                    raise self.fail(
                        raw_by_id[question.id],
                        f"question {question.id}: its show_if depends on itself",
                    )
                dependencies[question.id] = frozenset(refs)
        cycle = cycle_in(dependencies)
        if cycle:
            raise self.fail(raw_by_id[cycle[0]], f"conditions form a cycle: {' -> '.join(cycle)}")


def kind_required(scale: dict[int, str] | None) -> bool:
    """Self-assessment questions (a definition-wide `scale`) are all required unless marked."""
    return scale is not None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _with(question: Question, **changes: Any) -> Question:
    return replace(question, **changes)


def parse_definition(text: str, file: str) -> Definition:
    """A checked definition from YAML text; `DefinitionError` (file and line) otherwise."""
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DefinitionError(file, line, f"not valid YAML: {exc}") from None
    return _Reader(file).definition(raw)


def load_definition(path: Path | Any) -> Definition:
    """A checked definition from a file (a path or an importlib resource)."""
    return parse_definition(path.read_text(encoding="utf-8"), getattr(path, "name", str(path)))
