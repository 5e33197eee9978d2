"""Content checks on the shipped service, CAMHS partnership and Children's Trust definitions.

These read the YAML directly (no loader), so they hold whatever the loader does; one test at the
end also runs each file through `load_definition`.
"""

from __future__ import annotations

import ast
import re
from datetime import date
from importlib.resources import files
from typing import Any

import pytest
import yaml

FILES = {
    "service.yaml": ("service", "service", (30, 45)),
    "camhs_partnership.yaml": ("camhs-partnership", "camhs-partnership", (15, 25)),
    "childrens_trust.yaml": ("childrens-trust", "childrens-trust", (20, 30)),
}
TYPES = {
    "single_choice",
    "multiple_choice",
    "yes_no",
    "integer",
    "decimal",
    "percentage",
    "money",
    "date",
    "text",
    "scored_scale",
}
NUMERIC = {"integer", "decimal", "percentage", "money"}
CHOICE = {"single_choice", "multiple_choice"}
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
NI51 = ("learning_disabilities", "urgent_24_hour_cover", "age_16_17", "early_intervention")


def _load(name: str) -> dict[str, Any]:
    text = files("questionnaire.definitions").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict), name
    return data


@pytest.fixture(scope="module")
def definitions() -> dict[str, dict[str, Any]]:
    return {name: _load(name) for name in FILES}


def _questions(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["id"]: q for s in definition["sections"] for q in s["questions"]}


def _section(definition: dict[str, Any], section_id: str) -> dict[str, Any]:
    (section,) = [s for s in definition["sections"] if s["id"] == section_id]
    return section


def _conditions(definition: dict[str, Any]) -> list[str]:
    found = [s["show_if"] for s in definition["sections"] if "show_if" in s]
    found += [q["show_if"] for q in _questions(definition).values() if "show_if" in q]
    return found


@pytest.mark.parametrize("name", FILES)
def test_header(definitions: dict[str, dict[str, Any]], name: str) -> None:
    definition = definitions[name]
    expected_id, expected_kind, _ = FILES[name]
    assert definition["id"] == expected_id
    assert definition["kind"] == expected_kind
    assert definition["version"] == 1
    assert isinstance(definition["title"], str) and definition["title"].strip()
    assert isinstance(definition["description"], str) and definition["description"].strip()


@pytest.mark.parametrize("name", FILES)
def test_question_count(definitions: dict[str, dict[str, Any]], name: str) -> None:
    low, high = FILES[name][2]
    count = sum(len(s["questions"]) for s in definitions[name]["sections"])
    assert low <= count <= high


@pytest.mark.parametrize("name", FILES)
def test_ids_unique_and_snake_case(definitions: dict[str, dict[str, Any]], name: str) -> None:
    definition = definitions[name]
    section_ids = [s["id"] for s in definition["sections"]]
    question_ids = [q["id"] for s in definition["sections"] for q in s["questions"]]
    rule_ids = [r["id"] for r in definition.get("rules", [])]
    for ids in (section_ids, question_ids, rule_ids):
        assert len(ids) == len(set(ids))
        assert all(SNAKE.match(i) for i in ids), ids


@pytest.mark.parametrize("name", FILES)
def test_questions_are_well_formed(definitions: dict[str, dict[str, Any]], name: str) -> None:
    for qid, question in _questions(definitions[name]).items():
        assert question["type"] in TYPES, qid
        assert isinstance(question["text"], str) and question["text"].strip(), qid
        assert isinstance(question.get("required", False), bool), qid
        if question["type"] in CHOICE:
            values = [o["value"] for o in question["options"]]
            assert values and len(values) == len(set(values)), qid
            assert all(SNAKE.match(v) or v.isdigit() for v in values), qid
            assert all(isinstance(o["label"], str) and o["label"] for o in question["options"])
        else:
            assert "options" not in question, qid
        if question["type"] == "date":
            for key in ("min", "max"):
                if key in question:  # quoted ISO text, not a YAML date
                    assert isinstance(question[key], str), qid
                    date.fromisoformat(question[key])


@pytest.mark.parametrize("name", FILES)
def test_rules_name_numeric_questions(definitions: dict[str, dict[str, Any]], name: str) -> None:
    questions = _questions(definitions[name])
    for rule in definitions[name].get("rules", []):
        assert rule["kind"] in {"sum_equals", "less_or_equal"}, rule["id"]
        assert isinstance(rule["message"], str) and rule["message"].strip()
        if rule["kind"] == "sum_equals":
            named = [*rule["parts"], rule["total"]]
            assert len(rule["parts"]) >= 2
        else:
            named = [rule["left"], rule["right"]]
        for qid in named:
            assert qid in questions, (rule["id"], qid)
            assert questions[qid]["type"] in NUMERIC, (rule["id"], qid)


def test_sum_rules_present(definitions: dict[str, dict[str, Any]]) -> None:
    def totals(name: str) -> dict[str, str]:
        rules = definitions[name].get("rules", [])
        return {r["id"]: r["total"] for r in rules if r["kind"] == "sum_equals"}

    assert totals("service.yaml") == {
        "workforce_adds_up": "wte_total",
        "investment_adds_up": "investment_total",
    }
    assert totals("childrens_trust.yaml") == {"pooled_contributions_add_up": "pooled_total"}
    service = _questions(definitions["service.yaml"])
    assert service["wte_total"]["type"] == "decimal"
    assert service["investment_total"]["type"] == "money"
    rules = {r["id"]: r for r in definitions["service.yaml"]["rules"]}
    assert all(q.startswith("wte_") for q in rules["workforce_adds_up"]["parts"])
    assert all(q.startswith("investment_") for q in rules["investment_adds_up"]["parts"])


def _literal(node: ast.expr) -> list[Any] | None:
    """The literal value(s) of a node, or None when it is not a literal."""
    if isinstance(node, ast.Constant):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in {"true", "false", "null"}:
        return [{"true": True, "false": False, "null": None}[node.id]]
    if isinstance(node, ast.List | ast.Tuple):
        values = [_literal(e) for e in node.elts]
        return None if any(v is None for v in values) else [v[0] for v in values if v]
    return None


def _check_comparison(
    questions: dict[str, dict[str, Any]], left: ast.expr, op: ast.cmpop, right: ast.expr
) -> None:
    if isinstance(op, ast.In | ast.NotIn) and isinstance(right, ast.Name):
        # 'value' in multiple_choice_question
        question = questions[right.id]
        values = _literal(left)
        assert question["type"] == "multiple_choice", right.id
    elif isinstance(left, ast.Name) and left.id in questions:
        question = questions[left.id]
        values = _literal(right)
    elif isinstance(right, ast.Name) and right.id in questions:
        question = questions[right.id]
        values = _literal(left)
    else:
        return
    if values is None:
        return
    qtype = question["type"]
    if qtype in CHOICE:
        options = {o["value"] for o in question["options"]}
        assert all(v in options for v in values if v is not None), (question["id"], values)
    elif qtype == "yes_no":
        assert all(v in (True, False, None) for v in values), (question["id"], values)
    elif qtype in NUMERIC | {"scored_scale"}:
        numbers = [v for v in values if v is not None]
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers)


@pytest.mark.parametrize("name", FILES)
def test_conditions_name_real_questions_and_options(
    definitions: dict[str, dict[str, Any]], name: str
) -> None:
    questions = _questions(definitions[name])
    conditions = _conditions(definitions[name])
    assert conditions, name
    for source in conditions:
        tree = ast.parse(source, mode="eval")  # parsed only, never evaluated
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in {"true", "false", "null"}:
                assert node.id in questions, (source, node.id)
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                    _check_comparison(questions, left, op, right)
    # The simple patterns, by regex too: 'x' in qid and qid == 'x'.
    for source in conditions:
        for value, qid in re.findall(r"'([a-z0-9_]+)' (?:not )?in ([a-z][a-z0-9_]*)", source):
            assert value in {o["value"] for o in questions[qid]["options"]}, source
        for qid, value in re.findall(r"([a-z][a-z0-9_]*) [!=]= '([a-z0-9_]+)'", source):
            assert value in {o["value"] for o in questions[qid]["options"]}, source


def test_ni51_questions(definitions: dict[str, dict[str, Any]]) -> None:
    definition = definitions["camhs_partnership.yaml"]
    section = _section(definition, "ni51")
    assert tuple(q["id"] for q in section["questions"]) == NI51
    assert "show_if" not in section
    for question in section["questions"]:
        assert question["type"] == "scored_scale"
        assert question["required"] is True
        assert "show_if" not in question
        assert set(question["levels"]) == {1, 2, 3, 4}
        assert set(question["criteria"]) == {1, 2, 3, 4}
        assert question["levels"][1].lower().startswith("not in place")
        assert question["levels"][4].lower() == "fully in place"
        assert all(isinstance(c, str) and c.strip() for c in question["criteria"].values())
        assert question["evidence"]
    # The NI 51 ids appear nowhere else in the file.
    others = [q["id"] for s in definition["sections"] if s["id"] != "ni51" for q in s["questions"]]
    assert not set(others) & set(NI51)


def test_ni51_ids_match_the_scoring_module() -> None:
    from questionnaire.domain import ni51

    assert tuple(ni51.QUESTIONS) == NI51


def test_service_camhs_follow_ups(definitions: dict[str, dict[str, Any]]) -> None:
    definition = definitions["service.yaml"]
    questions = _questions(definition)
    camhs = questions["camhs"]
    assert camhs["type"] == "yes_no" and camhs["required"] is True
    assert "show_if" not in camhs
    section = _section(definition, "mental_health")
    follow_ups = [q for q in section["questions"] if q["id"] != "camhs"]
    assert {q["id"] for q in follow_ups} >= {"camhs_tier", "camhs_team_type", "camhs_waiting_weeks"}
    for question in follow_ups:
        assert re.search(r"\bcamhs == true\b", question["show_if"]), question["id"]
    tier = questions["camhs_tier"]
    assert tier["type"] == "single_choice"
    assert [o["value"] for o in tier["options"]] == ["1", "2", "3", "4"]
    assert questions["camhs_waiting_weeks"]["type"] == "integer"


def test_service_essentials(definitions: dict[str, dict[str, Any]]) -> None:
    questions = _questions(definitions["service.yaml"])
    need = questions["level_of_need"]
    assert need["type"] == "single_choice" and need["required"] is True
    assert [o["value"] for o in need["options"]] == ["universal", "targeted", "specialist"]
    ages = questions["age_bands"]
    assert ages["type"] == "multiple_choice"
    assert [o["value"] for o in ages["options"]] == [
        "antenatal",
        "age_0_4",
        "age_5_10",
        "age_11_15",
        "age_16_17",
        "age_18_19",
    ]
    for qid in ("setting", "level_of_need", "camhs", "wte_total", "investment_total"):
        assert questions[qid].get("required") is True, qid
    assert questions["referral_routes_other"]["show_if"] == "'other' in referral_routes"
    assert questions["partner_agencies"]["show_if"] == "multi_agency == true"
    assert questions["out_of_hours_arrangements"]["show_if"] == "out_of_hours == true"


def test_childrens_trust_pooled_budget_follow_ups(definitions: dict[str, dict[str, Any]]) -> None:
    questions = _questions(definitions["childrens_trust.yaml"])
    assert questions["pooled_budgets"]["type"] == "yes_no"
    for qid in ("pooled_total", "pooled_la", "pooled_pct", "pooled_other"):
        assert questions[qid]["type"] == "money", qid
        assert "pooled_budgets == true" in questions[qid]["show_if"], qid
    assert questions["board_partners"]["type"] == "multiple_choice"
    assert questions["cypp_published"]["type"] == "date"
    assert questions["joint_commissioning_posts"]["type"] == "integer"


@pytest.mark.parametrize("name", FILES)
def test_loader_accepts_shipped_definition(
    definitions: dict[str, dict[str, Any]], name: str
) -> None:
    from questionnaire.domain.definition import load_definition

    loaded = load_definition(files("questionnaire.definitions").joinpath(name))
    raw = definitions[name]
    assert (loaded.id, loaded.kind, loaded.version) == (raw["id"], raw["kind"], 1)
    assert list(loaded.questions) == list(_questions(raw))
    assert [r.id for r in loaded.rules] == [r["id"] for r in raw.get("rules", [])]
