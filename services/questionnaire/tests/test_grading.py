"""Self-assessment grades and NI 51, by DESIGN.md sections 7 and 8, boundaries included."""

from __future__ import annotations

import pytest

from questionnaire.domain.grading import Grade, overall_grade, topic_grade
from questionnaire.domain.ni51 import ni51_score

R, A, Y, PG, G, DG = (
    Grade.RED,
    Grade.AMBER,
    Grade.YELLOW,
    Grade.PALE_GREEN,
    Grade.GREEN,
    Grade.DARK_GREEN,
)


@pytest.mark.parametrize(
    ("scores", "grade"),
    [
        ([], None),
        ([1], R),  # 1 of 1 is more than a third
        ([1, 2, 2], A),  # exactly a third is not more than a third
        ([1, 1, 2, 3, 3], R),  # 2 of 5 > 1/3
        ([1, 3, 3, 3, 3, 3, 3], A),  # one 1 among best practice still caps at amber
        ([2, 2, 2, 2], Y),  # all meet the minimum
        ([2, 2, 2, 3], PG),  # a 3, but fewer than half
        ([2, 2, 3, 3], G),  # exactly half are 3: not fewer than half; < 2/3
        ([2, 3, 3], DG),  # exactly two-thirds are 3
        ([2, 2, 3, 3, 3], G),  # 3 of 5 < 2/3
        ([3, 3, 3], DG),
        ([3], DG),
        ([2], Y),
    ],
)
def test_topic_grade(scores: list[int], grade: Grade | None) -> None:
    assert topic_grade(scores) == grade


def test_scores_outside_one_to_three_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        topic_grade([0, 2, 4])


@pytest.mark.parametrize(
    ("topics", "grade"),
    [
        ([R, A, R, A, G, G], R),  # four red or amber
        ([A, A, A, G, DG, DG], A),  # three: any red or amber
        ([R, DG, DG, DG, DG, DG], A),
        ([G, G, DG, DG, Y, Y], G),  # four green or dark green
        ([G, G, DG, PG, Y, Y], PG),  # three: any green shade
        ([PG, Y, Y, Y, Y, Y], PG),
        ([Y, Y, Y, Y, Y, Y], Y),
        ([G, G, G, G, G, None], None),  # every topic must be graded
    ],
)
def test_overall_grade(topics: list[Grade | None], grade: Grade | None) -> None:
    assert overall_grade(topics) == grade


def test_the_scorecard_has_six_topics() -> None:
    with pytest.raises(ValueError, match="6 topics"):
        overall_grade([G, G, G])


def test_ni51_is_the_sum_of_four_answers() -> None:
    score = ni51_score(
        "00BR",
        {
            "learning_disabilities": 4,
            "urgent_24_hour_cover": 3,
            "age_16_17": 2,
            "early_intervention": 1,
        },
    )
    assert score.score == 10
    assert score.area == "00BR"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"learning_disabilities": 4}, "missing: urgent_24_hour_cover"),
        (
            {
                "learning_disabilities": 5,
                "urgent_24_hour_cover": 1,
                "age_16_17": 1,
                "early_intervention": 1,
            },
            "not so for: learning_disabilities",
        ),
    ],
)
def test_ni51_needs_four_valid_answers(answers: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ni51_score("00BR", answers)
