"""HTTP endpoints for delegates, who have no account: the token from their emailed link goes
in the `X-Delegate-Token` header and opens one questionnaire only.

- `GET   /delegate/questionnaire`                   the questionnaire the link opens
- `GET   /delegate/questionnaires/{id}`             the same, by id (another id: 404)
- `PATCH /delegate/questionnaires/{id}/answers`     save answers (send `version`)
- `POST  /delegate/questionnaires/{id}/return`      hand it back to the lead, with a comment

A link that is not genuine, or is for another questionnaire, is 404; one that was revoked,
replaced, accepted or has expired is 410 with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from csm_kernel.http import OrjsonResponse, append_context, error_responses

from .dependencies import QuestionnairesDep
from .models import QuestionnaireView, SavedView
from .questionnaires import AnswersIn

router = APIRouter(tags=["delegates"])

Token = Annotated[str | None, Header(alias="X-Delegate-Token")]

#: A link not genuine or for another questionnaire (404), one that has stopped (410), a
#: request that does not validate (422).
_READ = error_responses(404, 410, 422)
#: A change: also 409 (changed since the version read, no longer with the delegate, closed).
_WRITE = error_responses(404, 409, 410, 422)


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=2000)


@router.get("/delegate/questionnaire", response_model=QuestionnaireView, responses=_READ)
async def delegated_questionnaire(use: QuestionnairesDep, token: Token = None) -> OrjsonResponse:
    delegate = await use.delegate_for(token)
    return OrjsonResponse(use.view(await use.load(delegate, delegate.questionnaire_id), delegate))


@router.get(
    "/delegate/questionnaires/{questionnaire_id}",
    response_model=QuestionnaireView,
    responses=_READ,
)
async def get_as_delegate(
    questionnaire_id: str, use: QuestionnairesDep, token: Token = None
) -> OrjsonResponse:
    delegate = await use.delegate_for(token, questionnaire_id)
    return OrjsonResponse(use.view(await use.load(delegate, questionnaire_id), delegate))


@router.patch(
    "/delegate/questionnaires/{questionnaire_id}/answers",
    response_model=SavedView,
    responses=_WRITE,
)
async def save_as_delegate(
    questionnaire_id: str,
    body: AnswersIn,
    request: Request,
    use: QuestionnairesDep,
    token: Token = None,
) -> OrjsonResponse:
    delegate = await use.delegate_for(token, questionnaire_id)
    loaded, changed = await use.save(
        delegate,
        questionnaire_id,
        body.version,
        body.answers,
        append_context(request, delegate.actor),
    )
    # Serialised here with orjson: the reply is plain JSON, and FastAPI's encoder is slow.
    return OrjsonResponse(use.saved(loaded, delegate, changed))


@router.post(
    "/delegate/questionnaires/{questionnaire_id}/return",
    response_model=QuestionnaireView,
    response_model_exclude_unset=True,
    responses=_WRITE,
)
async def return_to_lead(
    questionnaire_id: str,
    body: ReturnIn,
    request: Request,
    use: QuestionnairesDep,
    token: Token = None,
) -> dict[str, Any]:
    delegate = await use.delegate_for(token, questionnaire_id)
    loaded = await use.return_to_lead(
        delegate, body.comment, append_context(request, delegate.actor)
    )
    return use.view(loaded, delegate)
