"""Structural checks on the commissioning self-assessment definition (seed 004)."""

from importlib.resources import files
from typing import Any

import pytest
import yaml

EXPECTED_SECTION_IDS = ["s1", "s2", "s3", "s4", "s5", "s6"]
# Counts as found in the seed's question list and per-question tables.
EXPECTED_QUESTIONS_PER_SECTION = {"s1": 11, "s2": 7, "s3": 8, "s4": 10, "s5": 6, "s6": 2}
EXPECTED_TOTAL_QUESTIONS = 44


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    resource = files("questionnaire.definitions").joinpath("commissioning_self_assessment.yaml")
    data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _questions(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(s["id"], q) for s in definition["sections"] for q in s["questions"]]


def test_header(definition: dict[str, Any]) -> None:
    assert definition["id"] == "commissioning-self-assessment"
    assert definition["version"] == 1
    assert isinstance(definition["title"], str) and definition["title"].strip()
    assert definition["source"] == "seeds/004_4b22cf704bff1938.txt"


def test_scale_has_exactly_three_points(definition: dict[str, Any]) -> None:
    scale = definition["scale"]
    assert set(scale) == {1, 2, 3}
    assert scale == {
        1: "needs significant improvement",
        2: "meets minimum standard",
        3: "good to best practice",
    }


def test_six_sections_with_titles_and_objectives(definition: dict[str, Any]) -> None:
    sections = definition["sections"]
    assert [s["id"] for s in sections] == EXPECTED_SECTION_IDS
    for section in sections:
        assert isinstance(section["title"], str) and section["title"].strip()
        objectives = section["objectives"]
        assert isinstance(objectives, list) and objectives
        assert all(isinstance(o, str) and o.strip() for o in objectives)
        assert section["questions"], section["id"]


def test_question_counts(definition: dict[str, Any]) -> None:
    per_section = {s["id"]: len(s["questions"]) for s in definition["sections"]}
    assert per_section == EXPECTED_QUESTIONS_PER_SECTION
    assert len(_questions(definition)) == EXPECTED_TOTAL_QUESTIONS


def test_question_ids_unique_and_prefixed(definition: dict[str, Any]) -> None:
    ids = [q["id"] for _, q in _questions(definition)]
    assert len(ids) == len(set(ids))
    for section in definition["sections"]:
        expected = [f"{section['id']}q{n}" for n in range(1, len(section["questions"]) + 1)]
        assert [q["id"] for q in section["questions"]] == expected


def test_questions_have_text_and_three_criteria(definition: dict[str, Any]) -> None:
    for _, question in _questions(definition):
        qid = question["id"]
        assert isinstance(question["text"], str) and question["text"].strip(), qid
        criteria = question["criteria"]
        assert set(criteria) == {1, 2, 3}, qid
        for score, text in criteria.items():
            assert isinstance(text, str) and text.strip(), (qid, score)


def test_evidence_is_a_list_of_non_empty_strings(definition: dict[str, Any]) -> None:
    for _, question in _questions(definition):
        evidence = question.get("evidence", [])
        assert isinstance(evidence, list), question["id"]
        assert all(isinstance(e, str) and e.strip() for e in evidence), question["id"]


def test_no_ocr_bullet_glyphs_left(definition: dict[str, Any]) -> None:
    for _, question in _questions(definition):
        for item in question.get("evidence", []):
            assert item[:2] not in {"e ", "= ", "* ", "» ", "« ", "- ", "~ "}, item
            assert item[0].isupper(), item
