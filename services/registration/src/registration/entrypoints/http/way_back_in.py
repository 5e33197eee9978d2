"""HTTP endpoints for a way back in: asking for a reset or set-up link by email address,
checking a link before it is used, choosing a new password, and the national team sending a
set-up link again (docs/registration.md, "A way back in")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, EmailStr, Field

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.http import append_context, error_responses

from .accounts import client_of
from .dependencies import WayBackInDep

router = APIRouter(tags=["a way back in"])

#: Documents 429's `Retry-After` header on the routes the public can call.
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        **error_responses(429)[429],
        "description": "Too many requests for links from this email address or this client "
        "(3 per address and 20 per client an hour, by default): try again after "
        "`Retry-After` seconds. The same for every address, whether it has an account or not.",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the window that counts these requests ends.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}


class LinkRequest(BaseModel):
    email: EmailStr


class LinkRequested(BaseModel):
    #: The same words whether or not the address has an account.
    message: str


class LinkCheck(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    purpose: Literal["set-up", "reset"]


class LinkStatusResponse(BaseModel):
    purpose: Literal["set-up", "reset"]
    #: `usable`; `used` (it works once); `superseded` (a newer link was sent); `expired`;
    #: `closed` (the account was closed); `not-valid` (not a link of ours, or of the other
    #: purpose).
    state: Literal["usable", "used", "superseded", "expired", "closed", "not-valid"]
    expires_at: datetime | None
    #: Who to ask when the link does not work: the national team (national accounts and
    #: mapping leads) or the person's mapping lead (group owners).
    ask: Literal["national-team", "mapping-lead"]


class ResetRequest(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=1000)


class ReissuedResponse(BaseModel):
    account_id: str
    setup_expires_at: datetime


SAME_ANSWER: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: if the address has an account a link is on its way (a reset "
        "link for an account set up already, a new set-up link for one that is not). The same "
        "answer, at about the same time, for an address with no account."
    }
}


async def _request_link(body: LinkRequest, request: Request, way: WayBackInDep) -> LinkRequested:
    return LinkRequested(message=await way.request_link(body.email, client=client_of(request)))


@router.post(
    "/auth/password-reset-requests",
    status_code=202,
    response_model=LinkRequested,
    responses={**SAME_ANSWER, **error_responses(413, 422), **RATE_LIMITED},
)
async def request_password_reset(
    body: LinkRequest, request: Request, way: WayBackInDep
) -> LinkRequested:
    """A forgotten password: email a link to choose a new one."""
    return await _request_link(body, request, way)


@router.post(
    "/auth/set-up-link-requests",
    status_code=202,
    response_model=LinkRequested,
    responses={**SAME_ANSWER, **error_responses(413, 422), **RATE_LIMITED},
)
async def request_set_up_link(
    body: LinkRequest, request: Request, way: WayBackInDep
) -> LinkRequested:
    """A set-up link that expired or was lost: email a new one (a reset link, if the account
    has been set up since)."""
    return await _request_link(body, request, way)


@router.post(
    "/auth/links/check",
    response_model=LinkStatusResponse,
    responses=error_responses(413, 422),
)
async def check_link(body: LinkCheck, way: WayBackInDep) -> LinkStatusResponse:
    """What an emailed link is now, so that its page can say so before a password is typed.
    A token, never an address: it says nothing about which addresses have accounts."""
    status = await way.status(body.purpose, body.token)
    return LinkStatusResponse(
        purpose=status.purpose, state=status.state, expires_at=status.expires_at, ask=status.ask
    )


@router.post(
    "/auth/reset-password",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "The password is changed; every session of the account ended."},
        **error_responses(413, 422),
    },
)
async def reset_password(body: ResetRequest, way: WayBackInDep) -> Response:
    await way.reset_password(body.token, body.password)
    return Response(status_code=204)


@router.post(
    "/accounts/{account_id}/set-up-link",
    status_code=201,
    response_model=ReissuedResponse,
    responses=error_responses(401, 403, 404, 409),
)
async def reissue_set_up_link(
    account_id: str,
    request: Request,
    way: WayBackInDep,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> ReissuedResponse:
    """Send an account that is not set up yet a new set-up link; the old ones stop working.
    409 if the account has been set up already or closed."""
    expires = await way.reissue_set_up_link(account_id, append_context(request, principal.actor))
    return ReissuedResponse(account_id=account_id, setup_expires_at=expires)
