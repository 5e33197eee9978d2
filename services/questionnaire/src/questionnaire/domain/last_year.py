"""Bringing last year's answers in: a carried-forward service's questionnaire may start from the
answers its questionnaire had in the cycle it was carried from. Pure.

Only what still means the same is offered: an answer to a question asked again under the same
id, whose definition has not changed (type, wording, options, bounds), that is a valid answer
under this year's rules, and that this year's conditions would show beside the other answers.
Questions answered already keep their answers unless the person confirms replacing them. What
is brought in is one `AnswersSaved` whose `brought_in_from` names the cycle and questionnaire,
so the history says where each of those answers came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from csm_contracts.events.responses import AnswerChange, AnsweredVia, AnswersSavedV2, BroughtIn
from csm_contracts.registry import EventPayload

from . import answers as rules
from .definition import Definition, Question
from .errors import WrongState
from .questionnaire import Questionnaire, ensure_editable


class NothingToBringIn(WrongState):
    """Last year's questionnaire holds no answer that can be brought in now."""


@dataclass(frozen=True)
class LastYear:
    """The questionnaire a carried-forward service had in the cycle it was carried from."""

    cycle: str
    questionnaire_id: str
    definition: Definition
    answers: Mapping[str, Any]


@dataclass(frozen=True)
class Skipped:
    """An answer of last year's that is not offered, and why (in words for people)."""

    question: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"question": self.question, "reason": self.reason}


@dataclass(frozen=True)
class Offer:
    """What bringing last year's answers in would do.

    `unanswered`: answers for questions not answered now (what is brought in by default);
    `everything`: what is brought in when the person confirms replacing answers given now,
    of which `replacing` are those that differ from an answer given now; `same`: questions
    already answered as last year; `skipped`: last year's answers that cannot be brought in,
    each with the reason."""

    cycle: str
    questionnaire_id: str
    unanswered: dict[str, Any]
    everything: dict[str, Any]
    replacing: dict[str, Any]
    same: tuple[str, ...]
    skipped: tuple[Skipped, ...]


#: The parts of a question that decide what its answer means; its line, section, help text
#: and conditions may change without making last year's answer wrong.
_MEANING = (
    "type",
    "text",
    "options",
    "min",
    "max",
    "decimals",
    "max_length",
    "min_selected",
    "max_selected",
    "levels",
    "criteria",
)


def question_changed(before: Question, now: Question) -> bool:
    """Whether a question asks something different from what it asked (so last year's answer
    may not answer it)."""
    return any(getattr(before, part) != getattr(now, part) for part in _MEANING)


def offer(q: Questionnaire, definition: Definition, last: LastYear) -> Offer:
    """What last year's answers could bring into `q` (answered by `definition`), and what not."""
    skipped: list[Skipped] = []
    candidates: dict[str, Any] = {}
    same: list[str] = []
    # Only the answers that counted last year (shown by last year's own conditions).
    for qid, value in rules.effective(last.definition, last.answers).items():
        now = definition.questions.get(qid)
        if now is None:
            skipped.append(Skipped(qid, f"not asked in {q.cycle}"))
            continue
        if question_changed(last.definition.questions[qid], now):
            skipped.append(Skipped(qid, f"the question has changed since {last.cycle}"))
            continue
        try:
            value = rules.normalise(now, value)
        except ValueError as exc:
            skipped.append(Skipped(qid, f"not a valid answer now: {exc}"))
            continue
        if value is None:
            continue
        if q.answers.get(qid) == value:
            same.append(qid)
        else:
            candidates[qid] = value
    into_empty = {k: v for k, v in candidates.items() if k not in q.answers}
    unanswered = _shown_together(definition, q.answers, into_empty)
    everything = _shown_together(definition, q.answers, candidates)
    skipped.extend(
        Skipped(qid, f"not asked now, given the other answers in {q.cycle}")
        for qid in candidates
        if qid not in unanswered and qid not in everything
    )
    return Offer(
        cycle=last.cycle,
        questionnaire_id=last.questionnaire_id,
        unanswered=unanswered,
        everything=everything,
        replacing={k: v for k, v in everything.items() if k in q.answers},
        same=tuple(same),
        skipped=tuple(skipped),
    )


def _shown_together(
    definition: Definition, current: Mapping[str, Any], chosen: Mapping[str, Any]
) -> dict[str, Any]:
    """The chosen answers that this year's conditions show beside the current ones and each
    other. Leaving one out can hide another (a follow-up of it), so this goes on until every
    answer kept is shown."""
    kept = dict(chosen)
    while True:
        shown = rules.visible(definition, {**current, **kept})
        hidden = {qid for qid in kept if qid not in shown}
        if not hidden:
            return kept
        kept = {k: v for k, v in kept.items() if k not in hidden}


def bring_in(
    q: Questionnaire, definition: Definition, last: LastYear, *, replace_answered: bool
) -> tuple[list[EventPayload], Offer]:
    """The event that brings last year's answers in (only into unanswered questions unless
    `replace_answered`), and the offer it came from. `WrongState` when the questionnaire
    cannot change; `NothingToBringIn` when there is nothing to bring in."""
    ensure_editable(q)
    found = offer(q, definition, last)
    chosen = found.everything if replace_answered else found.unanswered
    if not chosen:
        if found.replacing:
            raise NothingToBringIn(
                f"the questions {last.cycle}'s answers would fill are answered already: "
                f"confirm replacing {len(found.replacing)} answer(s) with {last.cycle}'s"
            )
        raise NothingToBringIn(f"there is nothing in {last.cycle}'s answers to bring in")
    # The same check as any save (it cannot fail for an offer; it is the one rule of record).
    new_answers, changed = rules.apply(definition, q.answers, chosen)
    event = AnswersSavedV2(
        **q._base(),
        changes=[AnswerChange(question=k, old=old, new=new) for k, (old, new) in changed.items()],
        via=AnsweredVia.ACCOUNT,
        brought_in_from=BroughtIn(cycle=last.cycle, questionnaire_id=last.questionnaire_id),
        answered=len(new_answers),
    )
    return [event], found
