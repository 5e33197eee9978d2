"""HTTP endpoints: the national team's own accounts, listed and disabled."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.http import append_context, error_responses

from .dependencies import NationalAccountsDep

router = APIRouter(tags=["accounts"])


class NationalAccountBody(BaseModel):
    account_id: str
    email: str
    name: str
    roles: list[str]
    #: pending (the set-up link not used yet), active or disabled.
    status: str
    created_at: datetime


class DisableRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.get(
    "/accounts",
    response_model=list[NationalAccountBody],
    responses=error_responses(401, 403),
)
async def national_accounts(
    accounts: NationalAccountsDep,
    _: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> list[NationalAccountBody]:
    """Every national admin, regulator and auditor account, by name."""
    return [
        NationalAccountBody(
            account_id=a.account_id,
            email=a.email,
            name=a.name,
            roles=list(a.roles),
            status=a.status,
            created_at=a.created_at,
        )
        for a in await accounts.list()
    ]


@router.post(
    "/accounts/{account_id}/disable",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 413, 422),
)
async def disable_national_account(
    account_id: str,
    body: DisableRequest,
    request: Request,
    accounts: NationalAccountsDep,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> Response:
    """Disable a national admin, regulator or auditor account: it cannot sign in again and
    its sessions end. 422 for the caller's own account; 404 for an account that is not a
    national one."""
    await accounts.disable(
        account_id, body.reason, principal.user_id, append_context(request, principal.actor)
    )
    return Response(status_code=204)
