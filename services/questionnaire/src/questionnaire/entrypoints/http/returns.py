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
from csm_kernel.auth import Principal, require
from csm_kernel.http import append_context

from ...domain.cycle import ReturnState
from .dependencies import Admin, Lead, Reader, ServicesDep

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


@router.get("/cycles/{cycle}/returns")
async def list_returns(cycle: str, _: NationalReader, services: ServicesDep) -> list[Any]:
    await services.cycle_repo.get(cycle)
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
        for row in await services.cycle_repo.returns(cycle)
    ]


@router.get("/cycles/{cycle}/returns/{organisation_id}")
async def return_status(
    cycle: str, organisation_id: str, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    status: dict[str, Any] = await services.returns.status(principal, cycle, organisation_id)
    return status


@router.post("/cycles/{cycle}/returns/{organisation_id}/sign-off")
async def sign_off(
    cycle: str,
    organisation_id: str,
    body: SignOffIn,
    request: Request,
    lead: Lead,
    services: ServicesDep,
) -> dict[str, Any]:
    event = await services.returns.sign_off(
        lead, cycle, organisation_id, append_context(request, lead.actor)
    )
    return dict(event.model_dump(mode="json"))


@router.post("/cycles/{cycle}/returns/{organisation_id}/extension")
async def grant_extension(
    cycle: str,
    organisation_id: str,
    body: ExtensionIn,
    request: Request,
    admin: Admin,
    services: ServicesDep,
) -> dict[str, Any]:
    ret = await services.cycles.grant_extension(
        cycle, organisation_id, body.until, body.reason, append_context(request, admin.actor)
    )
    return return_view(ret)


@router.post("/cycles/{cycle}/returns/{organisation_id}/reopen")
async def reopen(
    cycle: str,
    organisation_id: str,
    body: ReopenIn,
    request: Request,
    admin: Admin,
    services: ServicesDep,
) -> dict[str, Any]:
    ret = await services.cycles.reopen(
        cycle, organisation_id, body.reason, append_context(request, admin.actor)
    )
    return return_view(ret)
