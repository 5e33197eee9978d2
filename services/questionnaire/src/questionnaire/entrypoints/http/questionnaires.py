"""HTTP endpoints: answering questionnaires, as the organisation.

- `GET  /questionnaires?cycle=&organisation_id=`          what is owed, with status
- `GET  /questionnaires/{id}`                             the questionnaire with its answers
- `PATCH /questionnaires/{id}/answers`                    save answers (send `version`)
- `POST /questionnaires/{id}/submit`                      submit; 422 lists what is missing
- `POST /questionnaires/{id}/withdraw-submission`         take it back to change (before sign-off)
- `GET  /questionnaires/{id}/history`                     every change: who, when, old → new
- `GET  /questionnaires/{id}/last-year`                   what last year's answers would bring in
- `POST /questionnaires/{id}/last-year`                   bring them in (send `version`)
- `POST /questionnaires/{id}/delegations`                 delegate to an email address
- `GET  /questionnaires/{id}/delegations`                 every delegation and its state
- `POST /questionnaires/{id}/delegations/{d}/revoke`      withdraw a delegate's link
- `POST /questionnaires/{id}/delegations/{d}/accept`      accept what the delegate returned
- `POST /questionnaires/{id}/delegations/{d}/send-back`   send it back with a comment

Leads act on their organisation's questionnaires, group owners on their group's; the national
team and auditors read all and change none; anyone else's questionnaire is 404. Regulators read
the history of what was signed off (a questionnaire whose return is signed off; 403 otherwise).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from csm_kernel.bounds import Identifier, StreamVersion
from csm_kernel.http import OrjsonResponse, append_context, error_responses

from .dependencies import Answerer, HistoryReader, LastYearDep, QuestionnairesDep, Reader
from .models import (
    BroughtInView,
    Delegated,
    DelegationRow,
    HistoryItem,
    LastYearOffer,
    QuestionnaireSummary,
    QuestionnaireView,
    SavedView,
)

router = APIRouter(tags=["questionnaires"])


#: Most answers one save may carry: more than any definition has questions.
MAX_ANSWERS = 1000
#: question id -> answer; each answer is checked against its question (numbers within the
#: question's bounds, at most 10^12 where it sets none; text within its length).
Answers = Annotated[
    dict[Identifier, Any],
    Field(max_length=MAX_ANSWERS, description="question id -> answer (null clears it)"),
]


class AnswersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: StreamVersion | None = Field(
        default=None, description="the version you read (required)"
    )
    answers: Answers


class BringInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: StreamVersion | None = Field(
        default=None, description="the version you read (required)"
    )
    replace_answered: bool = Field(
        default=False,
        description="also replace answers given now that differ from last year's (confirmed)",
    )


class DelegateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    message: str | None = Field(default=None, max_length=2000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


class RequiredReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=2000)


#: Every route: no or a bad sign-in (401), a role that may not (403), a body or query that
#: does not validate (422).
_ALWAYS = (401, 403, 422)
#: A questionnaire the caller may not see is 404, like one that does not exist.
_READ = error_responses(*_ALWAYS, 404)
#: A change: also 409 (changed since the version read, wrong state, return locked or closed).
_WRITE = error_responses(*_ALWAYS, 404, 409)


@router.get(
    "/questionnaires",
    response_model=list[QuestionnaireSummary],
    response_model_exclude_unset=True,
    responses=error_responses(*_ALWAYS, 404),
)
async def list_questionnaires(
    principal: Reader,
    use: QuestionnairesDep,
    cycle: str | None = None,
    organisation_id: str | None = None,
) -> list[dict[str, Any]]:
    return await use.list_for(principal, cycle, organisation_id)


@router.get("/questionnaires/{questionnaire_id}", response_model=QuestionnaireView, responses=_READ)
async def get_questionnaire(
    questionnaire_id: str, principal: Reader, use: QuestionnairesDep
) -> Response:
    # The rendering is cached as JSON bytes (`RenderedCache`): answered as they are.
    body = use.view_json(await use.load(principal, questionnaire_id), principal)
    return Response(body, media_type="application/json")


@router.patch(
    "/questionnaires/{questionnaire_id}/answers", response_model=SavedView, responses=_WRITE
)
async def save_answers(
    questionnaire_id: str,
    body: AnswersIn,
    request: Request,
    principal: Answerer,
    use: QuestionnairesDep,
) -> OrjsonResponse:
    loaded, changed = await use.save(
        principal,
        questionnaire_id,
        body.version,
        body.answers,
        append_context(request, principal.actor),
    )
    # Serialised here with orjson: the reply is plain JSON, and FastAPI's encoder is slow.
    return OrjsonResponse(use.saved(loaded, principal, changed))


@router.post(
    "/questionnaires/{questionnaire_id}/submit",
    response_model=QuestionnaireView,
    response_model_exclude_unset=True,
    responses=_WRITE,
)
async def submit(
    questionnaire_id: str, request: Request, principal: Answerer, use: QuestionnairesDep
) -> dict[str, Any]:
    loaded = await use.submit(principal, questionnaire_id, append_context(request, principal.actor))
    return use.view(loaded, principal)


@router.post(
    "/questionnaires/{questionnaire_id}/withdraw-submission",
    response_model=QuestionnaireView,
    response_model_exclude_unset=True,
    responses=_WRITE,
)
async def withdraw_submission(
    questionnaire_id: str,
    body: RequiredReasonIn,
    request: Request,
    principal: Answerer,
    use: QuestionnairesDep,
) -> dict[str, Any]:
    loaded = await use.withdraw_submission(
        principal, questionnaire_id, body.reason, append_context(request, principal.actor)
    )
    return use.view(loaded, principal)


@router.get(
    "/questionnaires/{questionnaire_id}/history",
    response_model=list[HistoryItem],
    responses=_READ,
)
async def history(
    questionnaire_id: str, principal: HistoryReader, use: QuestionnairesDep
) -> list[dict[str, Any]]:
    """Every change: answers, who, when, old → new. The national team and auditors read every
    questionnaire's, the organisation its own, regulators those whose return is signed off."""
    return await use.history(principal, questionnaire_id)


@router.get(
    "/questionnaires/{questionnaire_id}/last-year",
    response_model=LastYearOffer,
    response_model_exclude_unset=True,
    responses=_READ,
)
async def last_year_offer(
    questionnaire_id: str, principal: Answerer, use: LastYearDep
) -> dict[str, Any]:
    """For a carried-forward service's questionnaire: which of the answers its questionnaire
    had in the cycle it was carried from can be brought in now, which would replace answers
    given now, and which cannot (and why). `available` false says why none can."""
    return await use.offer(principal, questionnaire_id)


@router.post(
    "/questionnaires/{questionnaire_id}/last-year", response_model=BroughtInView, responses=_WRITE
)
async def bring_in_last_year(
    questionnaire_id: str,
    body: BringInIn,
    request: Request,
    principal: Answerer,
    use: LastYearDep,
    questionnaires: QuestionnairesDep,
) -> OrjsonResponse:
    """Bring last year's answers in as a starting point: into unanswered questions, and over
    answers given now only with `replace_answered`. One `AnswersSaved` whose `brought_in_from`
    names the cycle (the history says so). 409: not carried forward, nothing to bring in,
    submitted, changed since `version`, or outside data entry."""
    done = await use.bring_in(
        principal,
        questionnaire_id,
        body.version,
        body.replace_answered,
        append_context(request, principal.actor),
    )
    return OrjsonResponse(
        {
            **questionnaires.saved(done.loaded, principal, done.changed),
            "brought_in_from": done.offer.cycle,
            "skipped": [s.as_dict() for s in done.offer.skipped],
        }
    )


@router.post(
    "/questionnaires/{questionnaire_id}/delegations",
    status_code=201,
    response_model=Delegated,
    responses=_WRITE,
)
async def delegate(
    questionnaire_id: str,
    body: DelegateIn,
    request: Request,
    principal: Answerer,
    use: QuestionnairesDep,
) -> dict[str, Any]:
    loaded = await use.delegate(
        principal,
        questionnaire_id,
        str(body.email),
        body.message,
        append_context(request, principal.actor),
    )
    delegation = loaded.questionnaire.delegation
    assert delegation is not None
    return {"delegation": delegation.as_json(), "version": loaded.questionnaire.version}


@router.get(
    "/questionnaires/{questionnaire_id}/delegations",
    response_model=list[DelegationRow],
    responses=_READ,
)
async def delegations(
    questionnaire_id: str, principal: Reader, use: QuestionnairesDep
) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "questionnaire_id": d.questionnaire_id,
            "email": d.email,
            "status": d.status,
            "expires_at": d.expires_at.isoformat(),
            "delegated_by": d.delegated_by,
            "created_at": d.created_at.isoformat(),
            "ended_at": d.ended_at.isoformat() if d.ended_at else None,
        }
        for d in await use.delegations(principal, questionnaire_id)
    ]


@router.post(
    "/questionnaires/{questionnaire_id}/delegations/{delegation_id}/revoke",
    response_model=QuestionnaireView,
    response_model_exclude_unset=True,
    responses=_WRITE,
)
async def revoke(
    questionnaire_id: str,
    delegation_id: str,
    body: ReasonIn,
    request: Request,
    principal: Answerer,
    use: QuestionnairesDep,
) -> dict[str, Any]:
    loaded = await use.revoke(
        principal,
        questionnaire_id,
        delegation_id,
        body.reason,
        append_context(request, principal.actor),
    )
    return use.view(loaded, principal)


@router.post(
    "/questionnaires/{questionnaire_id}/delegations/{delegation_id}/accept",
    response_model=QuestionnaireView,
    response_model_exclude_unset=True,
    responses=_WRITE,
)
async def accept(
    questionnaire_id: str,
    delegation_id: str,
    request: Request,
    principal: Answerer,
    use: QuestionnairesDep,
) -> dict[str, Any]:
    loaded = await use.accept(
        principal, questionnaire_id, delegation_id, append_context(request, principal.actor)
    )
    return use.view(loaded, principal)


@router.post(
    "/questionnaires/{questionnaire_id}/delegations/{delegation_id}/send-back",
    response_model=QuestionnaireView,
    response_model_exclude_unset=True,
    responses=_WRITE,
)
async def send_back(
    questionnaire_id: str,
    delegation_id: str,
    body: CommentIn,
    request: Request,
    principal: Answerer,
    use: QuestionnairesDep,
) -> dict[str, Any]:
    loaded = await use.send_back(
        principal,
        questionnaire_id,
        delegation_id,
        body.comment,
        append_context(request, principal.actor),
    )
    return use.view(loaded, principal)
