"""Reporting's copy of the questionnaire definitions' ids matches the definitions themselves.

`reporting.domain.measures` names the questions (and answer options) the projections and
reports read, copied from the questionnaire service's definition files: reporting may not
import the questionnaire service (DESIGN §3). A definition that renames a question, drops an
option or moves a section would otherwise leave a report silently empty. This reads the
definition files as YAML (no import of `questionnaire`) and fails, naming the id, when any id
or option value the measures rely on is missing or differs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from csm_contracts.events.registration import OrganisationKind
from reporting.domain import measures

DEFINITIONS = (
    Path(__file__).resolve().parents[1]
    / "services"
    / "questionnaire"
    / "src"
    / "questionnaire"
    / "definitions"
)

#: Answer types whose values the projections cast to numbers.
NUMERIC_TYPES = {"money", "decimal", "integer"}


def _load() -> dict[str, list[dict[str, Any]]]:
    """Every definition file, by definition id (one entry per version)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(DEFINITIONS.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["_file"] = path.name
        found.setdefault(document["id"], []).append(document)
    return found


BY_ID = _load()


def versions(definition: str) -> list[dict[str, Any]]:
    """Every version of a definition; fails if there is none."""
    if definition not in BY_ID:
        pytest.fail(f"no definition with id {definition!r} in {DEFINITIONS}; found {sorted(BY_ID)}")
    return BY_ID[definition]


def sections(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in document["sections"]}


def questions(document: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every question of a definition by id, with the id of its section."""
    return {q["id"]: (s["id"], q) for s in document["sections"] for q in s.get("questions", [])}


def question(document: dict[str, Any], qid: str, section: str | None = None) -> dict[str, Any]:
    """The question `qid` (in `section`, when given); fails naming it if it is not there."""
    found = questions(document)
    where = f"{document['_file']} (version {document['version']})"
    if qid not in found:
        pytest.fail(f"{where} has no question {qid!r}, which reporting reads")
    in_section, q = found[qid]
    if section is not None:
        assert in_section == section, (
            f"{where}: {qid!r} is in section {in_section!r}, reporting reads it from {section!r}"
        )
    return q


def ids(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [value for value, _ in pairs]


def option_values(q: dict[str, Any]) -> list[str]:
    return [str(o["value"]) for o in q.get("options", [])]


def test_the_definition_ids_reporting_names_exist() -> None:
    for definition in (
        measures.SERVICE,
        measures.CAMHS_PARTNERSHIP,
        measures.CHILDRENS_TRUST,
        measures.SELF_ASSESSMENT,
    ):
        assert versions(definition)


@pytest.mark.parametrize("document", versions(measures.SERVICE), ids=lambda d: d["_file"])
def test_service_money_and_workforce_questions(document: dict[str, Any]) -> None:
    for section, read in (
        ("investment", [*ids(measures.FUNDING_SOURCES), measures.INVESTMENT_TOTAL]),
        ("workforce", [*ids(measures.PROFESSIONS), measures.WTE_TOTAL]),
    ):
        for qid in read:
            q = question(document, qid, section)
            assert q["type"] in NUMERIC_TYPES, f"{qid} is {q['type']}, reporting adds it up"
        # Every part the questionnaire asks for is one reporting shows (and no part missing).
        asked = [q["id"] for q in sections(document)[section]["questions"]]
        assert asked == read, (
            f"section {section}: the definition asks {asked}, reporting reads {read}"
        )


@pytest.mark.parametrize("document", versions(measures.SERVICE), ids=lambda d: d["_file"])
def test_service_breakdowns_and_their_options(document: dict[str, Any]) -> None:
    for _, qid, categories in measures.BREAKDOWNS:
        q = question(document, qid)
        assert q["type"] == "single_choice", f"{qid} is {q['type']}, reporting reads one value"
        # The same options: one the definition added would be left out of every breakdown.
        assert option_values(q) == ids(categories), (
            f"{qid}: the definition's options {option_values(q)}, reporting's {ids(categories)}"
        )
    assert question(document, measures.CAMHS)["type"] == "yes_no"
    assert measures.CAMHS_TIER in {qid for _, qid, _ in measures.BREAKDOWNS}
    sectors = option_values(question(document, measures.PROVIDER_SECTOR))
    for sector in measures.INDEPENDENT_SECTORS:
        assert sector in sectors, f"{measures.PROVIDER_SECTOR} has no option {sector!r}"


@pytest.mark.parametrize("document", versions(measures.CAMHS_PARTNERSHIP), ids=lambda d: d["_file"])
def test_ni51_questions(document: dict[str, Any]) -> None:
    read = ids(measures.NI51_QUESTIONS)
    asked = [q["id"] for q in sections(document)["ni51"]["questions"]]
    assert asked == read, f"NI 51: the definition asks {asked}, reporting reads {read}"
    for qid in read:
        q = question(document, qid, "ni51")
        assert q["type"] == "scored_scale", f"{qid} is {q['type']}, reporting reads a score"
        # `measures.score_of` accepts 1 to 4 (DESIGN §8).
        assert sorted(int(level) for level in q["levels"]) == [1, 2, 3, 4], qid


@pytest.mark.parametrize("document", versions(measures.CHILDRENS_TRUST), ids=lambda d: d["_file"])
def test_childrens_trust_questions(document: dict[str, Any]) -> None:
    by_title = {s["title"]: s for s in document["sections"]}
    for title, pairs in measures.CHILDRENS_TRUST_QUESTIONS:
        assert title in by_title, f"no section titled {title!r}; found {sorted(by_title)}"
        section = by_title[title]
        for qid in ids(pairs):
            question(document, qid, section["id"])
        asked = [q["id"] for q in section["questions"]]
        assert asked == ids(pairs), f"{title}: the definition asks {asked}, reporting {ids(pairs)}"


@pytest.mark.parametrize("document", versions(measures.SELF_ASSESSMENT), ids=lambda d: d["_file"])
def test_self_assessment_topics(document: dict[str, Any]) -> None:
    graded = [(s["id"], s["title"]) for s in document["sections"]]
    assert graded == list(measures.TOPICS)


def test_organisation_kinds_are_the_contracts() -> None:
    kinds = {k.value for k in OrganisationKind}
    for kind in [*measures.PARTNER_KINDS, *measures.COMMISSIONING_PCT_KINDS]:
        assert kind in kinds, f"{kind!r} is not an organisation kind"
