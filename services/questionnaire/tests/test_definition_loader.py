"""The definition loader: a good file loads into the model; a bad one fails with file, line, why."""

from __future__ import annotations

import textwrap
from datetime import date
from importlib.resources import files

import pytest

from questionnaire.domain.definition import (
    Definition,
    DefinitionError,
    DefinitionKind,
    Option,
    QuestionType,
    RuleKind,
    load_definition,
    parse_definition,
)

GOOD = textwrap.dedent(
    """\
    id: sample
    version: 3
    title: A sample
    kind: service
    description: Every question type.
    sections:
      - id: about
        title: About the service
        help: Tell us about it.
        objectives: [Know the service]
        questions:
          - id: colour
            type: single_choice
            text: Colour?
            required: true
            options:
              - {value: red, label: Bright red}
              - blue
          - id: extras
            type: multiple_choice
            text: Extras?
            options: [a, b, c]
            min_selected: 1
            max_selected: 2
          - id: has_budget
            type: yes_no
            text: Is there a budget?
          - id: budget
            type: money
            text: Budget
            show_if: has_budget == true
          - id: staff_cost
            type: money
            text: Staff cost
          - id: other_cost
            type: money
            text: Other cost
          - id: staff
            type: integer
            text: Staff
            max: 500
          - id: ratio
            type: decimal
            text: Ratio
            decimals: 3
            min: -1.5
          - id: share
            type: percentage
            text: Share
          - id: start
            type: date
            text: Start
            min: 2020-01-01
            max: "2030-12-31"
          - id: notes
            type: text
            text: Notes
            max_length: 200
            multiline: true
      - id: quality
        title: Quality
        show_if: colour == 'red'
        questions:
          - id: maturity
            type: scored_scale
            text: Maturity
            help: How mature?
            levels: {1: low, 2: middling, 3: high}
            criteria: {1: nothing, 2: something, 3: everything}
            evidence: [Plan, Minutes]
    rules:
      - id: budget_split
        kind: sum_equals
        message: the costs add up to the budget
        parts: [staff_cost, other_cost]
        total: budget
      - id: staff_within_budget
        kind: less_or_equal
        message: staff cost within budget
        left: staff_cost
        right: budget
    """
)


@pytest.fixture(scope="module")
def good() -> Definition:
    return parse_definition(GOOD, "good.yaml")


def test_good_definition_header(good: Definition) -> None:
    assert good.ref == "sample@3"
    assert good.title == "A sample"
    assert good.kind is DefinitionKind.SERVICE
    assert good.description == "Every question type."
    assert [s.id for s in good.sections] == ["about", "quality"]
    assert good.sections[0].help == "Tell us about it."
    assert good.sections[0].objectives == ("Know the service",)
    assert good.sections[1].show_if is not None
    assert good.sections[1].show_if.references == {"colour"}


def test_good_definition_has_every_type_in_order(good: Definition) -> None:
    assert list(good.questions) == [
        "colour",
        "extras",
        "has_budget",
        "budget",
        "staff_cost",
        "other_cost",
        "staff",
        "ratio",
        "share",
        "start",
        "notes",
        "maturity",
    ]
    assert {q.type for q in good.questions.values()} == set(QuestionType)
    assert good.section_of("maturity").id == "quality"
    assert good.questions["maturity"].section == "quality"
    # Each question remembers the line of its mapping.
    assert good.questions["colour"].line == 12


def test_choice_options_and_labels(good: Definition) -> None:
    colour = good.questions["colour"]
    assert colour.required is True
    assert colour.options == (Option("red", "Bright red"), Option("blue", "blue"))
    assert colour.option_values == {"red", "blue"}
    extras = good.questions["extras"]
    assert extras.required is False
    assert [o.value for o in extras.options] == ["a", "b", "c"]
    assert (extras.min_selected, extras.max_selected) == (1, 2)


def test_numeric_bounds_and_defaults(good: Definition) -> None:
    q = good.questions
    assert (q["budget"].min, q["budget"].max) == (0, None)  # money: never negative
    assert (q["staff"].min, q["staff"].max) == (0, 500)  # integer: min defaults to 0
    assert (q["share"].min, q["share"].max) == (0, 100)  # percentage: 0 to 100
    assert (q["ratio"].min, q["ratio"].max, q["ratio"].decimals) == (-1.5, None, 3)
    assert (q["start"].min, q["start"].max) == (date(2020, 1, 1), date(2030, 12, 31))
    assert (q["notes"].max_length, q["notes"].multiline) == (200, True)


def test_scored_scale(good: Definition) -> None:
    maturity = good.questions["maturity"]
    assert maturity.levels == {1: "low", 2: "middling", 3: "high"}
    assert maturity.criteria == {1: "nothing", 2: "something", 3: "everything"}
    assert maturity.evidence == ("Plan", "Minutes")
    assert maturity.help == "How mature?"


def test_show_if_is_parsed(good: Definition) -> None:
    budget = good.questions["budget"]
    assert budget.show_if is not None
    assert budget.show_if.source == "has_budget == true"
    assert budget.show_if.references == {"has_budget"}
    assert budget.show_if.evaluate({"has_budget": True})
    assert not budget.show_if.evaluate({"has_budget": False})


def test_rules(good: Definition) -> None:
    split, within = good.rules
    assert (split.id, split.kind, split.parts, split.total) == (
        "budget_split",
        RuleKind.SUM_EQUALS,
        ("staff_cost", "other_cost"),
        "budget",
    )
    assert split.message == "the costs add up to the budget"
    assert split.questions == ("staff_cost", "other_cost", "budget")
    assert (within.kind, within.left, within.right) == (
        RuleKind.LESS_OR_EQUAL,
        "staff_cost",
        "budget",
    )
    assert within.line is not None and GOOD.splitlines()[within.line - 1].strip() == (
        "- id: staff_within_budget"
    )


def test_shipped_self_assessment_loads() -> None:
    resource = files("questionnaire.definitions").joinpath("commissioning_self_assessment.yaml")
    definition = load_definition(resource)
    assert definition.kind is DefinitionKind.SELF_ASSESSMENT  # from its definition-wide scale
    assert definition.ref == "commissioning-self-assessment@1"
    assert [s.id for s in definition.sections] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert len(definition.questions) == 44
    for question in definition.questions.values():
        assert question.type is QuestionType.SCORED_SCALE, question.id
        assert question.required, question.id
        assert question.levels == {
            1: "needs significant improvement",
            2: "meets minimum standard",
            3: "good to best practice",
        }, question.id
        assert set(question.criteria) == {1, 2, 3}, question.id
        assert all(text.strip() for text in question.criteria.values()), question.id


def test_load_definition_names_the_file(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace("type: text", "type: essay"))
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert caught.value.file == "broken.yaml"
    assert "essay" in caught.value.message


# --- failures ------------------------------------------------------------------------------------

# Eight lines: the first question of section s1 is on line 9.
HEADER = textwrap.dedent(
    """\
    id: bad
    version: 1
    title: Bad
    kind: service
    sections:
      - id: s1
        title: One
        questions:
    """
)


def doc(questions: str, more_sections: str = "", rules: str = "") -> str:
    """HEADER, `questions` as s1's list (from line 9), more sections, then the rules."""
    body = textwrap.indent(textwrap.dedent(questions), "      ")
    return (
        HEADER
        + body
        + textwrap.indent(textwrap.dedent(more_sections), "  ")
        + textwrap.dedent(rules)
    )


def fails(text: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "bad.yaml")
    assert caught.value.file == "bad.yaml"
    assert str(caught.value).startswith(f"bad.yaml:{caught.value.line}: ")
    return caught.value


def test_header_is_as_documented() -> None:
    text = doc("- {id: a, type: text, text: A}\n")
    assert text.splitlines()[8] == "      - {id: a, type: text, text: A}"
    assert parse_definition(text, "bad.yaml").questions["a"].line == 9


A_CHOICE = "- {id: a, type: single_choice, text: A, options: [x, real]}\n"
M_MULTI = "- {id: m, type: multiple_choice, text: M, options: [p, q]}\n"
YN = "- {id: yn, type: yes_no, text: YN}\n"
N_INT = "- {id: n, type: integer, text: N, max: 10}\n"
T_TEXT = "- {id: t, type: text, text: T}\n"
TRIGGERS = A_CHOICE + M_MULTI + YN + N_INT + T_TEXT  # lines 9 to 13


def follow_up(condition: str) -> str:
    """TRIGGERS, then on line 14 a question shown if `condition`."""
    return doc(TRIGGERS + f'- {{id: f, type: text, text: F, show_if: "{condition}"}}\n')


CASES = {
    "unknown key": (
        doc(
            """\
            - id: a
              type: text
              text: A
              colour: red
            """
        ),
        9,
        ["unknown key", "colour"],
    ),
    "unknown key at the top": (
        HEADER.replace("kind: service", "kind: service\nowner: me"),
        1,
        ["unknown key", "owner"],
    ),
    "unknown type": (doc("- {id: a, type: essay, text: A}\n"), 9, ["type 'essay'", "not one of"]),
    "missing type": (doc("- {id: a, text: A}\n"), 9, ["type None"]),
    "bad id": (doc("- {id: Bad-Id, type: text, text: A}\n"), 9, ["'Bad-Id'", "snake_case"]),
    "duplicate id in a section": (
        doc("- {id: a, type: text, text: A}\n- {id: a, type: yes_no, text: B}\n"),
        10,
        ["duplicate id 'a'"],
    ),
    "duplicate id across sections": (
        doc(
            "- {id: a, type: text, text: A}\n",
            """\
              - id: s2
                title: Two
                questions:
                  - {id: b, type: text, text: B}
                  - {id: a, type: text, text: A again}
            """,
        ),
        14,
        ["duplicate id 'a'"],
    ),
    "no text": (doc("- {id: a, type: text}\n"), 9, ["question a", "'text'"]),
    "choice without options": (
        doc("- {id: a, type: single_choice, text: A}\n"),
        9,
        ["question a", "options"],
    ),
    "multiple choice with empty options": (
        doc("- {id: a, type: multiple_choice, text: A, options: []}\n"),
        9,
        ["options"],
    ),
    "duplicate option": (
        doc("- {id: a, type: single_choice, text: A, options: [x, x]}\n"),
        9,
        ["duplicate option"],
    ),
    "options on a non-choice": (
        doc("- {id: a, type: text, text: A, options: [x]}\n"),
        9,
        ["only choice", "options"],
    ),
    "min_selected on a single choice": (
        doc("- {id: a, type: single_choice, text: A, options: [x], min_selected: 1}\n"),
        9,
        ["min_selected", "multiple choice"],
    ),
    "min above max": (
        doc("- {id: a, type: integer, text: A, min: 10, max: 5}\n"),
        9,
        ["min is above max"],
    ),
    "percentage min above 100": (
        doc("- {id: a, type: percentage, text: A, min: 120}\n"),
        9,
        ["min is above max"],
    ),
    "date bounds min above max": (
        doc("- {id: a, type: date, text: A, min: 2024-01-02, max: 2024-01-01}\n"),
        9,
        ["min is above max"],
    ),
    "min on a text": (doc("- {id: a, type: text, text: A, min: 1}\n"), 9, ["no min or max"]),
    "bad date bound": (
        doc("- {id: a, type: date, text: A, min: soon}\n"),
        9,
        ["'min'", "ISO date"],
    ),
    "scored scale without levels": (
        doc("- {id: a, type: scored_scale, text: A}\n"),
        9,
        ["scored scale needs 'levels'"],
    ),
    "criteria not for each level": (
        doc("- {id: a, type: scored_scale, text: A, levels: {1: x, 2: y}, criteria: {1: c}}\n"),
        9,
        ["criteria must be given for each level"],
    ),
    "levels on a non-scale": (
        doc("- {id: a, type: integer, text: A, levels: {1: x}}\n"),
        9,
        ["only scored scales"],
    ),
    "show_if naming an unknown question": (
        doc("- {id: a, type: yes_no, text: A}\n- {id: b, type: text, text: B, show_if: zz}\n"),
        10,
        ["question b", "unknown question(s): zz"],
    ),
    "show_if with a call": (follow_up("len(t) > 3"), 14, ["question f", "Call is not allowed"]),
    "show_if with a method call": (
        follow_up("t.upper() == 'X'"),
        14,
        ["question f", "Call is not allowed"],
    ),
    "show_if with an attribute": (
        follow_up("n.real == 1"),
        14,
        ["question f", "Attribute is not allowed"],
    ),
    "show_if with arithmetic": (
        follow_up("n + 1 > 2"),
        14,
        ["question f", "BinOp is not allowed"],
    ),
    "show_if that is not text": (
        doc(TRIGGERS + "- {id: f, type: text, text: F, show_if: true}\n"),
        14,
        ["show_if must be text"],
    ),
    "choice value not among its options": (
        follow_up("a == 'z'"),
        14,
        ["can never be true", "a is never 'z'"],
    ),
    "choice value not among its options, reversed": (
        follow_up("'z' == a"),
        14,
        ["can never be true", "a is never 'z'"],
    ),
    "choice in a list of non-options": (
        follow_up("a in ['z', 'w']"),
        14,
        ["a is never 'z'", "a is never 'w'"],
    ),
    "yes/no compared with 'yes'": (
        follow_up("yn == 'yes'"),
        14,
        ["can never be true", "true or false", "'yes'"],
    ),
    "integer above its max": (follow_up("n > 10"), 14, ["can never be true", "never above 10"]),
    "integer at least above its max": (follow_up("n >= 11"), 14, ["never above 10"]),
    "integer below its min": (follow_up("n < 0"), 14, ["never below 0"]),
    "integer above its max, reversed": (follow_up("10 < n"), 14, ["never above 10"]),
    "integer compared with text": (follow_up("n > 'x'"), 14, ["compared here with 'x'"]),
    "not an option of a multiple choice": (
        follow_up("'z' in m"),
        14,
        ["can never be true", "'z' is not an option of m"],
    ),
    "multiple choice compared with one value": (
        follow_up("m == 'p'"),
        14,
        ["can never be true", "holds a list of choices"],
    ),
    "multiple choice compared with a list out of order": (
        follow_up("m == ['q', 'p']"),
        14,
        ["can never be true", "options' order"],
    ),
    "a list looked for in a multiple choice": (
        follow_up("['p'] in m"),
        14,
        ["can never be true", "not an option of m"],
    ),
    "single choice compared with a list": (
        follow_up("a == ['x']"),
        14,
        ["can never be true", "never a list"],
    ),
    "either side impossible": (
        follow_up("a == 'z' or a == 'w'"),
        14,
        ["a is never 'z'", "a is never 'w'"],
    ),
    "one side of an and impossible": (
        follow_up("a == 'x' and n > 10"),
        14,
        ["never above 10"],
    ),
    "section show_if never true": (
        doc(
            TRIGGERS,
            """\
              - id: s2
                title: Two
                show_if: yn == 'no'
                questions:
                  - {id: b, type: text, text: B}
            """,
        ),
        14,
        ["yn == 'no'", "can never be true"],
    ),
    "cycle between conditions": (
        doc(
            """\
            - {id: a, type: yes_no, text: A, show_if: "b == true"}
            - {id: b, type: yes_no, text: B, show_if: "a == true"}
            """
        ),
        9,
        ["cycle", "a -> b -> a"],
    ),
    "longer cycle": (
        doc(
            """\
            - {id: x, type: text, text: X}
            - {id: b, type: yes_no, text: B, show_if: "c == true"}
            - {id: c, type: yes_no, text: C, show_if: "d == true"}
            - {id: d, type: yes_no, text: D, show_if: "b == true"}
            """
        ),
        10,
        ["cycle", "b -> c -> d -> b"],
    ),
    "condition on itself": (
        doc('- {id: a, type: yes_no, text: A, show_if: "a == true"}\n'),
        9,
        ["question a", "depends on itself"],
    ),
    "rule naming an unknown question": (
        doc(
            "- {id: n, type: integer, text: N}\n",
            rules="""\
            rules:
              - id: r
                kind: less_or_equal
                message: M
                left: n
                right: zz
            """,
        ),
        11,
        ["rule r", "unknown question(s) zz"],
    ),
    "sum_equals over a text question": (
        doc(
            "- {id: n, type: integer, text: N}\n- {id: t, type: text, text: T}\n",
            rules="""\
            rules:
              - id: r
                kind: sum_equals
                message: M
                parts: [n, t]
                total: n
            """,
        ),
        12,
        ["rule r", "question t is not a number"],
    ),
    "sum_equals with a part that is not an id": (
        doc(
            "- {id: n, type: integer, text: N}\n",
            rules="""\
            rules:
              - id: r
                kind: sum_equals
                message: M
                parts: [n, [n]]
                total: n
            """,
        ),
        11,
        ["rule r", "sum_equals needs"],
    ),
    "rule of an unknown kind": (
        doc(
            "- {id: n, type: integer, text: N}\n",
            rules="""\
            rules:
              - id: r
                kind: greater
                message: M
            """,
        ),
        11,
        ["rule r", "kind must be one of"],
    ),
    "invalid YAML": (
        doc(
            """\
            - id: a
              type: text
               text: A
            """
        ),
        11,
        ["not valid YAML"],
    ),
    "invalid YAML, unclosed bracket": (
        HEADER + "      - {id: a, type: text\n",
        10,
        ["not valid YAML"],
    ),
    "version zero": (HEADER.replace("version: 1", "version: 0"), 1, ["'version'"]),
    "unknown kind": (HEADER.replace("kind: service", "kind: survey"), 1, ["kind 'survey'"]),
}


@pytest.mark.parametrize(("text", "line", "words"), CASES.values(), ids=list(CASES))
def test_bad_definition(text: str, line: int, words: list[str]) -> None:
    error = fails(text)
    assert error.line == line, error
    for word in words:
        assert word in error.message, (word, error.message)


@pytest.mark.parametrize(
    "condition",
    [
        "a == 'z' or a == 'real'",  # one side is possible
        "a == 'real'",
        "a in ['z', 'real']",
        "a != 'z'",  # a "not" is never judged impossible
        "not (a == 'z')",
        "yn == true",
        "yn == false and n >= 10",
        "n > 9",
        "n <= 0",
        "n == null",  # unanswered
        "'p' in m",
        "'z' not in m",
        "m == ['p', 'q']",  # stored choices are in the options' order
        "t == 'anything'",
        "a == t",  # two questions: assumed possible
        "yn == (not 1)",  # `not` is not judged, even around a literal
    ],
)
def test_possible_conditions_load(condition: str) -> None:
    definition = parse_definition(follow_up(condition), "bad.yaml")
    follow = definition.questions["f"]
    assert follow.show_if is not None and follow.show_if.source == condition
    assert definition.questions["f"].line == 14


def test_a_follow_up_of_a_follow_up_loads() -> None:
    text = doc(
        """\
        - {id: a, type: yes_no, text: A}
        - {id: b, type: yes_no, text: B, show_if: "a == true"}
        - {id: c, type: text, text: C, show_if: "b == true and a == true"}
        """
    )
    definition = parse_definition(text, "ok.yaml")
    c = definition.questions["c"].show_if
    assert c is not None and c.references == {"a", "b"}


def test_empty_text_is_not_a_definition() -> None:
    error = fails("")
    assert error.line == 1
    assert "must be a mapping" in error.message


def test_error_without_line_prints_the_file_only() -> None:
    error = DefinitionError("x.yaml", None, "gone")
    assert str(error) == "x.yaml: gone"
    assert (error.file, error.line, error.message) == ("x.yaml", None, "gone")


def test_a_self_assessment_scores_one_to_three_and_camhs_partnership_asks_ni51() -> None:
    bad_scale = textwrap.dedent(
        """\
        id: sa
        version: 1
        title: SA
        kind: self-assessment
        sections:
          - id: s1
            title: S1
            questions:
              - id: q1
                type: scored_scale
                text: Q1
                levels: {1: a, 2: b, 3: c, 4: d}
        """
    )
    with pytest.raises(DefinitionError) as info:
        parse_definition(bad_scale, "bad.yaml")
    assert info.value.line == 9 and "scored scale of 1, 2 and 3" in info.value.message
    no_ni51 = textwrap.dedent(
        """\
        id: cp
        version: 1
        title: CAMHS
        kind: camhs-partnership
        sections:
          - id: s1
            title: S1
            questions:
              - id: learning_disabilities
                type: yes_no
                text: Q1
        """
    )
    with pytest.raises(DefinitionError) as info:
        parse_definition(no_ni51, "bad.yaml")
    assert info.value.line == 9 and "NI 51 questions are scored scales" in info.value.message
