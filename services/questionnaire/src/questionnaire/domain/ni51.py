"""NI 51, the effectiveness of CAMHS, for one LA partnership area (DESIGN.md section 8).

Four questions of the CAMHS partnership questionnaire, each scored 1 (not in place) to 4 (fully
in place); the area's score is their sum, 4 to 16.
"""

from __future__ import annotations

from csm_contracts.events import NI51AreaScore

from .definition import NI51_QUESTIONS as QUESTIONS


def ni51_score(area: str, answers: dict[str, int]) -> NI51AreaScore:
    """The area's NI 51 from its four answers; ValueError naming what is missing or invalid."""
    missing = [q for q in QUESTIONS if q not in answers]
    if missing:
        raise ValueError(f"NI 51 needs all four answers; missing: {', '.join(missing)}")
    bad = [q for q in QUESTIONS if answers[q] not in (1, 2, 3, 4)]
    if bad:
        raise ValueError(f"NI 51 answers are 1 to 4; not so for: {', '.join(bad)}")
    return NI51AreaScore(
        area=area, **{q: answers[q] for q in QUESTIONS}, score=sum(answers[q] for q in QUESTIONS)
    )
