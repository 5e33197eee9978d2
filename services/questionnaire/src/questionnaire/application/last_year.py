"""Bringing last year's answers into a carried-forward service's questionnaire, at the person's
choice: what it would bring in (`offer`), and doing it (`bring_in`). The domain decides which
answers still fit (`domain.last_year`); this finds last year's questionnaire through the
service it was carried from, and saves like any other save (the version read, the entry window,
one event)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from csm_contracts.events.responses import SubjectKind
from csm_kernel.auth import Principal
from csm_kernel.errors import Conflict, InvalidInput, NotFound
from csm_kernel.store import AppendContext

from ..domain import last_year as decide
from ..domain.cycle import ensure_open_for_entry
from ..domain.last_year import LastYear, Offer
from ..domain.questionnaire import Questionnaire, ensure_editable, questionnaire_id
from .answering import Questionnaires
from .catalogue import DefinitionCatalogue
from .ports import CarriedServices, Loaded, QuestionnaireRepository


class NoLastYear(Conflict):
    """There is no earlier cycle's questionnaire to bring answers in from."""


@dataclass(frozen=True)
class BroughtIn:
    """A bring-in done: the questionnaire after, the questions whose answers it set, and the
    offer it took them from."""

    loaded: Loaded
    changed: list[str]
    offer: Offer


class LastYearsAnswers:
    """The use cases; reading and saving go through `Questionnaires` (the same access rules,
    window and concurrency as typing the answers)."""

    def __init__(
        self,
        questionnaires: Questionnaires,
        repo: QuestionnaireRepository,
        catalogue: DefinitionCatalogue,
        carried: CarriedServices,
    ) -> None:
        self.questionnaires = questionnaires
        self.repo = repo
        self.catalogue = catalogue
        self.carried = carried

    async def _last_year(self, q: Questionnaire) -> LastYear:
        """The questionnaire `q`'s service had in the cycle it was carried forward from."""
        if q.subject_kind is not SubjectKind.SERVICE:
            raise NoLastYear(
                "only a carried-forward service's questionnaire can bring last year's answers in"
            )
        carried = await self.carried.carried_from(q.subject_id)
        if carried is None:
            raise NoLastYear(
                "this service was not carried forward from an earlier cycle: "
                "there are no answers from last year to bring in"
            )
        definition = self.catalogue.get(q.definition)
        last_id = questionnaire_id(
            carried.cycle, q.organisation_id, definition.id, carried.service_id
        )
        try:
            last = (await self.repo.load(last_id)).questionnaire
        except NotFound:
            raise NoLastYear(
                f"this service had no questionnaire in {carried.cycle}: "
                "there are no answers from last year to bring in"
            ) from None
        return LastYear(carried.cycle, last.id, self.catalogue.get(last.definition), last.answers)

    async def offer(self, principal: Principal, questionnaire_id: str) -> dict[str, Any]:
        """What bringing last year's answers in would do now, or why it cannot
        (`available` false, with the `reason`)."""
        loaded = await self.questionnaires.load(principal, questionnaire_id, write=True)
        q = loaded.questionnaire
        try:
            last = await self._last_year(q)
        except NoLastYear as exc:
            return {"available": False, "reason": exc.message}
        found = decide.offer(q, self.catalogue.get(q.definition), last)
        reason = None
        try:
            ensure_editable(q)
            ensure_open_for_entry(loaded.cycle, loaded.ret, self.questionnaires.clock.now())
        except Conflict as exc:
            reason = exc.message
        if reason is None and not (found.unanswered or found.replacing):
            reason = f"there is nothing in {last.cycle}'s answers to bring in"
        return {**_offer_json(found), "available": reason is None, "reason": reason}

    async def bring_in(
        self,
        principal: Principal,
        questionnaire_id: str,
        expected_version: int | None,
        replace_answered: bool,
        context: AppendContext,
    ) -> BroughtIn:
        """Bring last year's answers in: into unanswered questions, and in place of answers
        given now only when `replace_answered`. One `AnswersSaved` naming where they came from.
        """
        loaded = await self.questionnaires.load(principal, questionnaire_id, write=True)
        q = loaded.questionnaire
        if expected_version is None:
            raise InvalidInput.field(
                "version", "say which version you are changing (from the questionnaire you read)"
            )
        if expected_version != q.version:
            raise await self.questionnaires.stale(q.id, expected_version)
        ensure_editable(q)  # submitted: 409 before looking for last year's
        ensure_open_for_entry(loaded.cycle, loaded.ret, self.questionnaires.clock.now())
        last = await self._last_year(q)
        events, found = decide.bring_in(
            q, self.catalogue.get(q.definition), last, replace_answered=replace_answered
        )
        after = await self.questionnaires.commit(loaded, events, context)
        self.questionnaires.activity.saved()
        changed = [c.question for e in events for c in getattr(e, "changes", [])]
        return BroughtIn(loaded.with_questionnaire(after), changed, found)


def _offer_json(found: Offer) -> dict[str, Any]:
    return {
        "cycle": found.cycle,
        "from_questionnaire_id": found.questionnaire_id,
        "unanswered": list(found.unanswered),
        "replacing": list(found.replacing),
        "same": list(found.same),
        "skipped": [s.as_dict() for s in found.skipped],
        # What each offered answer would be (a page shows them before the person chooses).
        "answers": {**found.everything, **found.unanswered},
    }
