"""HTTP endpoints: answering questionnaires, as the organisation.

- `GET  /questionnaires?cycle=&organisation_id=`          what is owed, with status
- `GET  /questionnaires/{id}`                             the questionnaire with its answers
- `PATCH /questionnaires/{id}/answers`                    save answers (send `version`)
- `POST /questionnaires/{id}/submit`                      submit; 422 lists what is missing
- `POST /questionnaires/{id}/withdraw-submission`         take it back to change (before sign-off)
- `GET  /questionnaires/{id}/history`                     every change: who, when, old → new
- `POST /questionnaires/{id}/delegations`                 delegate to an email address
- `GET  /questionnaires/{id}/delegations`                 every delegation and its state
- `POST /questionnaires/{id}/delegations/{d}/revoke`      withdraw a delegate's link
- `POST /questionnaires/{id}/delegations/{d}/accept`      accept what the delegate returned
- `POST /questionnaires/{id}/delegations/{d}/send-back`   send it back with a comment

Leads act on their organisation's questionnaires, group owners on their group's; the national
team and auditors read all and change none; anyone else's questionnaire is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from csm_kernel.bounds import Identifier, StreamVersion
from csm_kernel.http import OrjsonResponse, append_context

from .dependencies import Answerer, Reader, ServicesDep

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


@router.get("/questionnaires")
async def list_questionnaires(
    principal: Reader,
    services: ServicesDep,
    cycle: str | None = None,
    organisation_id: str | None = None,
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await services.questionnaires.list_for(
        principal, cycle, organisation_id
    )
    return items


@router.get("/questionnaires/{questionnaire_id}")
async def get_questionnaire(
    questionnaire_id: str, principal: Reader, services: ServicesDep
) -> Response:
    use = services.questionnaires
    body = use.view_json(await use.load(principal, questionnaire_id), principal)
    return Response(body, media_type="application/json")


@router.patch("/questionnaires/{questionnaire_id}/answers")
async def save_answers(
    questionnaire_id: str,
    body: AnswersIn,
    request: Request,
    principal: Answerer,
    services: ServicesDep,
) -> OrjsonResponse:
    use = services.questionnaires
    loaded, changed = await use.save(
        principal,
        questionnaire_id,
        body.version,
        body.answers,
        append_context(request, principal.actor),
    )
    # Serialised here with orjson: the reply is plain JSON, and FastAPI's encoder is slow.
    return OrjsonResponse(use.saved(loaded, principal, changed))


@router.post("/questionnaires/{questionnaire_id}/submit")
async def submit(
    questionnaire_id: str, request: Request, principal: Answerer, services: ServicesDep
) -> dict[str, Any]:
    use = services.questionnaires
    loaded = await use.submit(principal, questionnaire_id, append_context(request, principal.actor))
    view: dict[str, Any] = use.view(loaded, principal)
    return view


@router.post("/questionnaires/{questionnaire_id}/withdraw-submission")
async def withdraw_submission(
    questionnaire_id: str,
    body: RequiredReasonIn,
    request: Request,
    principal: Answerer,
    services: ServicesDep,
) -> dict[str, Any]:
    use = services.questionnaires
    loaded = await use.withdraw_submission(
        principal, questionnaire_id, body.reason, append_context(request, principal.actor)
    )
    view: dict[str, Any] = use.view(loaded, principal)
    return view


@router.get("/questionnaires/{questionnaire_id}/history")
async def history(
    questionnaire_id: str, principal: Reader, services: ServicesDep
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await services.questionnaires.history(principal, questionnaire_id)
    return items


@router.post("/questionnaires/{questionnaire_id}/delegations", status_code=201)
async def delegate(
    questionnaire_id: str,
    body: DelegateIn,
    request: Request,
    principal: Answerer,
    services: ServicesDep,
) -> dict[str, Any]:
    use = services.questionnaires
    loaded = await use.delegate(
        principal, questionnaire_id, str(body.email), body.message,
        append_context(request, principal.actor),
    )  # fmt: skip
    delegation = loaded.questionnaire.delegation
    assert delegation is not None
    return {"delegation": delegation.as_json(), "version": loaded.questionnaire.version}


@router.get("/questionnaires/{questionnaire_id}/delegations")
async def delegations(
    questionnaire_id: str, principal: Reader, services: ServicesDep
) -> list[dict[str, Any]]:
    await services.questionnaires.load(principal, questionnaire_id)
    rows = await services.questionnaire_repo.delegations(questionnaire_id)
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(r).items()}
        for r in rows
    ]


@router.post("/questionnaires/{questionnaire_id}/delegations/{delegation_id}/revoke")
async def revoke(
    questionnaire_id: str,
    delegation_id: str,
    body: ReasonIn,
    request: Request,
    principal: Answerer,
    services: ServicesDep,
) -> dict[str, Any]:
    use = services.questionnaires
    loaded = await use.revoke(
        principal, questionnaire_id, delegation_id, body.reason,
        append_context(request, principal.actor),
    )  # fmt: skip
    view: dict[str, Any] = use.view(loaded, principal)
    return view


@router.post("/questionnaires/{questionnaire_id}/delegations/{delegation_id}/accept")
async def accept(
    questionnaire_id: str,
    delegation_id: str,
    request: Request,
    principal: Answerer,
    services: ServicesDep,
) -> dict[str, Any]:
    use = services.questionnaires
    loaded = await use.accept(
        principal, questionnaire_id, delegation_id, append_context(request, principal.actor)
    )
    view: dict[str, Any] = use.view(loaded, principal)
    return view


@router.post("/questionnaires/{questionnaire_id}/delegations/{delegation_id}/send-back")
async def send_back(
    questionnaire_id: str,
    delegation_id: str,
    body: CommentIn,
    request: Request,
    principal: Answerer,
    services: ServicesDep,
) -> dict[str, Any]:
    use = services.questionnaires
    loaded = await use.send_back(
        principal, questionnaire_id, delegation_id, body.comment,
        append_context(request, principal.actor),
    )  # fmt: skip
    view: dict[str, Any] = use.view(loaded, principal)
    return view
