"""The commissioning self-assessment's grades (DESIGN.md section 7), pure.

Each answer scores 1 (needs significant improvement), 2 (meets minimum standard) or 3 (good to
best practice). A topic (section) is graded over its answered questions; the overall balanced
scorecard over the six topic grades. Fractions are compared in integers, so "more than a
third" of 3 answers is 2, never a rounding accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum


class Grade(StrEnum):
    """The colours of the balanced scorecard, worst first."""

    RED = "red"
    AMBER = "amber"
    YELLOW = "yellow"
    PALE_GREEN = "pale-green"
    GREEN = "green"
    DARK_GREEN = "dark-green"


TOPICS = 6
_RED_OR_AMBER = {Grade.RED, Grade.AMBER}
_GREEN_OR_DARK = {Grade.GREEN, Grade.DARK_GREEN}
_ANY_GREEN = {Grade.PALE_GREEN, Grade.GREEN, Grade.DARK_GREEN}


def topic_grade(scores: Iterable[int]) -> Grade | None:
    """A topic's grade from its answered questions' scores; None when none is answered."""
    answers = list(scores)
    if any(s not in (1, 2, 3) for s in answers):
        raise ValueError(f"scores are 1, 2 or 3, not {sorted(set(answers) - {1, 2, 3})}")
    n = len(answers)
    if n == 0:
        return None
    ones, threes = answers.count(1), answers.count(3)
    if ones:
        # More than a third need significant improvement.
        return Grade.RED if 3 * ones > n else Grade.AMBER
    if 2 * threes < n:  # fewer than half are good to best practice
        return Grade.YELLOW if threes == 0 else Grade.PALE_GREEN
    return Grade.GREEN if 3 * threes < 2 * n else Grade.DARK_GREEN


def overall_grade(topics: Sequence[Grade | None]) -> Grade | None:
    """The balanced scorecard over the six topic grades; None until all six are graded."""
    if len(topics) != TOPICS:
        raise ValueError(f"the scorecard has {TOPICS} topics, not {len(topics)}")
    if any(t is None for t in topics):
        return None
    red_or_amber = sum(t in _RED_OR_AMBER for t in topics)
    if red_or_amber >= 4:
        return Grade.RED
    if red_or_amber:
        return Grade.AMBER
    if sum(t in _GREEN_OR_DARK for t in topics) >= 4:
        return Grade.GREEN
    if any(t in _ANY_GREEN for t in topics):
        return Grade.PALE_GREEN
    return Grade.YELLOW
