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

from csm_kernel.http import OrjsonResponse, append_context

from .dependencies import ServicesDep
from .questionnaires import AnswersIn

router = APIRouter(tags=["delegates"])

Token = Annotated[str | None, Header(alias="X-Delegate-Token")]


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=2000)


@router.get("/delegate/questionnaire")
async def delegated_questionnaire(services: ServicesDep, token: Token = None) -> OrjsonResponse:
    use = services.questionnaires
    delegate = await use.delegate_for(token)
    return OrjsonResponse(use.view(await use.load(delegate, delegate.questionnaire_id), delegate))


@router.get("/delegate/questionnaires/{questionnaire_id}")
async def get_as_delegate(
    questionnaire_id: str, services: ServicesDep, token: Token = None
) -> OrjsonResponse:
    use = services.questionnaires
    delegate = await use.delegate_for(token, questionnaire_id)
    return OrjsonResponse(use.view(await use.load(delegate, questionnaire_id), delegate))


@router.patch("/delegate/questionnaires/{questionnaire_id}/answers")
async def save_as_delegate(
    questionnaire_id: str,
    body: AnswersIn,
    request: Request,
    services: ServicesDep,
    token: Token = None,
) -> OrjsonResponse:
    use = services.questionnaires
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


@router.post("/delegate/questionnaires/{questionnaire_id}/return")
async def return_to_lead(
    questionnaire_id: str,
    body: ReturnIn,
    request: Request,
    services: ServicesDep,
    token: Token = None,
) -> dict[str, Any]:
    use = services.questionnaires
    delegate = await use.delegate_for(token, questionnaire_id)
    loaded = await use.return_to_lead(
        delegate, body.comment, append_context(request, delegate.actor)
    )
    view: dict[str, Any] = use.view(loaded, delegate)
    return view
