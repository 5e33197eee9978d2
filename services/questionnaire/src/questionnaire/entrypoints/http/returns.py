"""HTTP endpoints: an organisation's return for a cycle.

- `GET  /cycles/{cycle}/returns`                          every return's state (national, auditor)
- `GET  /cycles/{cycle}/returns/{org}`                    what is owed, what is done
- `POST /cycles/{cycle}/returns/{org}/sign-off`           the lead signs it off (`confirm: true`)
- `POST /cycles/{cycle}/returns/{org}/extension`          the national team extends data entry
- `POST /cycles/{cycle}/returns/{org}/reopen`             the national team reopens it
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from csm_contracts.auth import Role
from csm_contracts.events.questionnaire import CycleSignedOff
from csm_kernel.auth import Principal, require
from csm_kernel.http import append_context, error_responses

from ...domain.cycle import ReturnState
from .dependencies import Admin, CyclesDep, Lead, Reader, ReturnsDep
from .models import ReturnRow, ReturnStatus, ReturnView

router = APIRouter(tags=["returns"])

NationalReader = Annotated[
    Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR))
]


class SignOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: Literal[True] = Field(description="true: I have checked what I am signing off")


class ExtensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime
    reason: str = Field(min_length=1, max_length=1000)


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def return_view(ret: ReturnState) -> dict[str, Any]:
    return {
        "cycle": ret.cycle,
        "organisation_id": ret.organisation_id,
        "version": ret.version,
        "extension_until": _when(ret.extension_until),
        "reopened": ret.reopened,
        "signed_off_at": _when(ret.signed_off_at),
        "signed_off_by": ret.signed_off_by,
    }


#: No or a bad sign-in (401), a role that may not (403), an unknown cycle or organisation, or
#: one the caller may not see (404), a request that does not validate (422).
_READ = error_responses(401, 403, 404, 422)
#: A change: also 409 (the return changed meanwhile, is signed off or not ready).
_WRITE = error_responses(401, 403, 404, 409, 422)


@router.get("/cycles/{cycle}/returns", response_model=list[ReturnRow], responses=_READ)
async def list_returns(cycle: str, _: NationalReader, cycles: CyclesDep) -> list[dict[str, Any]]:
    return [
        {
            "cycle": r.cycle,
            "organisation_id": r.organisation_id,
            "version": r.version,
            "extension_until": _when(r.extension_until),
            "reopened": r.reopened,
            "signed_off_at": _when(r.signed_off_at),
            "signed_off_by": r.signed_off_by,
            "sign_offs": r.sign_offs,
            "updated_at": r.updated_at.isoformat(),
        }
        for r in await cycles.returns(cycle)
    ]


@router.get(
    "/cycles/{cycle}/returns/{organisation_id}", response_model=ReturnStatus, responses=_READ
)
async def return_status(
    cycle: str, organisation_id: str, principal: Reader, returns: ReturnsDep
) -> dict[str, Any]:
    return await returns.status(principal, cycle, organisation_id)


@router.post(
    "/cycles/{cycle}/returns/{organisation_id}/sign-off",
    response_model=CycleSignedOff,
    responses=_WRITE,
)
async def sign_off(
    cycle: str,
    organisation_id: str,
    body: SignOffIn,
    request: Request,
    lead: Lead,
    returns: ReturnsDep,
) -> dict[str, Any]:
    event = await returns.sign_off(
        lead, cycle, organisation_id, append_context(request, lead.actor)
    )
    return event.model_dump(mode="json")


@router.post(
    "/cycles/{cycle}/returns/{organisation_id}/extension",
    response_model=ReturnView,
    responses=_WRITE,
)
async def grant_extension(
    cycle: str,
    organisation_id: str,
    body: ExtensionIn,
    request: Request,
    admin: Admin,
    cycles: CyclesDep,
) -> dict[str, Any]:
    ret = await cycles.grant_extension(
        cycle, organisation_id, body.until, body.reason, append_context(request, admin.actor)
    )
    return return_view(ret)


@router.post(
    "/cycles/{cycle}/returns/{organisation_id}/reopen",
    response_model=ReturnView,
    responses=_WRITE,
)
async def reopen(
    cycle: str,
    organisation_id: str,
    body: ReopenIn,
    request: Request,
    admin: Admin,
    cycles: CyclesDep,
) -> dict[str, Any]:
    ret = await cycles.reopen(
        cycle, organisation_id, body.reason, append_context(request, admin.actor)
    )
    return return_view(ret)
