"""Bringing last year's answers into a carried-forward service's questionnaire, as its pages
show the choice (pure): each answer that would come in by its question's wording and in the
words people read it, the answers given now that last year's would replace, and what cannot
come in and why."""

from __future__ import annotations

from dataclasses import dataclass

from .answers import questions_of
from .history import question_options, question_types, shown_answer
from .models import LastYearOffer, QuestionnaireView


@dataclass(frozen=True)
class OfferedAnswer:
    question: str
    text: str
    last_year: object
    now: object = None


@dataclass(frozen=True)
class OfferShown:
    """An offer as a page lists it."""

    cycle: str
    unanswered: list[OfferedAnswer]
    replacing: list[OfferedAnswer]
    skipped: list[tuple[str, str]]


def offer_shown(view: QuestionnaireView, offer: LastYearOffer) -> OfferShown:
    questions = questions_of(view)
    options = question_options(view)
    types = question_types(view)

    def words(qid: str, value: object) -> object:
        return shown_answer(value, options.get(qid), types.get(qid, ""))

    def text(qid: str) -> str:
        q = questions.get(qid)
        return q["text"] if q else qid

    def row(qid: str) -> OfferedAnswer:
        q = questions.get(qid)
        now = q.get("answer") if q else None
        return OfferedAnswer(qid, text(qid), words(qid, offer.answers.get(qid)), words(qid, now))

    return OfferShown(
        cycle=offer.cycle or "last year",
        unanswered=[row(q) for q in offer.unanswered],
        replacing=[row(q) for q in offer.replacing],
        skipped=[(text(s.question), _sentence(s.reason)) for s in offer.skipped],
    )


def _sentence(reason: str) -> str:
    return reason[:1].upper() + reason[1:]


def answers_phrase(count: int) -> str:
    """ "1 answer", "12 answers"."""
    return f"{count} answer{'' if count == 1 else 's'}"
