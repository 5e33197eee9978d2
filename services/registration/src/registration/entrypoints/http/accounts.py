"""HTTP endpoints: accounts, mapping leads, service groups, and signing in and out."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, EmailStr, Field

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, current_principal, ensure_can_see, require
from csm_kernel.client_address import ClientProof
from csm_kernel.errors import CSMError, NotFound
from csm_kernel.http import append_context, error_responses

from ...application.accounts import LeadWanted
from ...application.ports import ServiceGroup
from .dependencies import AccountsDep, SignInDep

router = APIRouter(tags=["accounts"])

Name = Annotated[str, Field(min_length=1, max_length=200)]


class Person(BaseModel):
    email: EmailStr
    name: Name


class NationalAccountRequest(Person):
    role: Literal["national-admin", "regulator", "auditor"]


class AccountResponse(BaseModel):
    account_id: str
    email: str
    name: str


class SetUpRequest(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=1000)


class SignInRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1000)
    #: The token a previous sign-in gave this device (the portal keeps it in a cookie).
    device_token: str | None = Field(default=None, min_length=1, max_length=200)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokensResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - OAuth's token type, not a secret
    expires_in: int


class SignInResponse(TokensResponse):
    #: Keep it for this device and send it with its next sign-in: a device that has signed in
    #: before is not locked out by others' failures (docs/registration.md, "Signing in").
    device_token: str


class MeResponse(BaseModel):
    account_id: str
    roles: list[Role]
    organisation_id: str | None
    group_id: str | None


class GroupRequest(BaseModel):
    name: Name
    kind: Literal["locality", "area-of-delivery"]
    owner: Person


class GroupResponse(BaseModel):
    group_id: str
    organisation_id: str
    name: str
    kind: str
    owner_account_id: str | None = None

    @classmethod
    def of(cls, group: ServiceGroup) -> GroupResponse:
        return cls(
            group_id=group.group_id,
            organisation_id=group.organisation_id,
            name=group.name,
            kind=group.kind,
            owner_account_id=group.owner_account_id,
        )


class LeadNomination(BaseModel):
    account_id: str
    email: str
    name: str
    replaces_account_id: str | None
    nominated_by: str


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountResponse,
    responses=error_responses(401, 403, 409, 413, 422),
)
async def create_national_account(
    body: NationalAccountRequest,
    request: Request,
    accounts: AccountsDep,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> AccountResponse:
    new = await accounts.create_national_account(
        body.email, body.name, Role(body.role), append_context(request, principal.actor)
    )
    return AccountResponse(account_id=new.account_id, email=new.email, name=new.name)


@router.put(
    "/organisations/{code}/lead",
    status_code=201,
    response_model=AccountResponse,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def nominate_lead(
    code: str,
    body: Person,
    request: Request,
    accounts: AccountsDep,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> AccountResponse:
    new = await accounts.nominate_lead(
        code, body.email, body.name, append_context(request, principal.actor)
    )
    return AccountResponse(account_id=new.account_id, email=new.email, name=new.name)


#: How many leads one `POST /organisations/leads` takes: one transaction holds the event
#: store's append lock while it writes (about 2 ms of CPU a lead), so a batch is kept short.
LEADS_PER_BATCH = 1000


class LeadWantedBody(Person):
    code: Annotated[str, Field(min_length=1, max_length=20)]


class LeadsRequest(BaseModel):
    leads: list[LeadWantedBody] = Field(min_length=1, max_length=LEADS_PER_BATCH)


class LeadOutcome(BaseModel):
    code: str
    #: The lead's account (new, or the current lead's if they were nominated again); null
    #: when refused.
    account_id: str | None = None
    #: Why it was refused (`status`: 404 the organisation is not registered, 409 an
    #: account has that email, 422 not valid); null when nominated.
    status: int | None = None
    reason: str | None = None


class LeadsResponse(BaseModel):
    nominated: int
    refused: int
    #: One per lead asked for, in the same order.
    outcomes: list[LeadOutcome]


@router.post(
    "/organisations/leads",
    response_model=LeadsResponse,
    responses=error_responses(401, 403, 413, 422),
)
async def nominate_leads(
    body: LeadsRequest,
    request: Request,
    accounts: AccountsDep,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))],
) -> LeadsResponse:
    """Many organisations' mapping leads in one request (bulk registration): each exactly as
    `PUT /organisations/{code}/lead`, in order, in one transaction; a lead refused is
    reported in its place (`outcomes`) and the rest are nominated. Up to 1,000 a request."""
    outcomes = await accounts.nominate_leads(
        [LeadWanted(w.code, str(w.email), w.name) for w in body.leads],
        append_context(request, principal.actor),
    )
    out = []
    for wanted, outcome in zip(body.leads, outcomes, strict=True):
        if isinstance(outcome, CSMError):
            out.append(
                LeadOutcome(code=wanted.code, status=outcome.status_code, reason=outcome.message)
            )
        else:
            out.append(LeadOutcome(code=wanted.code, account_id=outcome.account_id))
    refused = sum(1 for o in out if o.status is not None)
    return LeadsResponse(nominated=len(out) - refused, refused=refused, outcomes=out)


class CurrentLeadResponse(BaseModel):
    account_id: str
    email: str
    name: str
    #: `pending` (not set up yet: the set-up link may be sent again), `active` or `disabled`.
    status: Literal["pending", "active", "disabled"]


@router.get(
    "/organisations/{code}/lead",
    response_model=CurrentLeadResponse,
    responses=error_responses(401, 403, 404),
)
async def current_lead(
    code: str,
    accounts: AccountsDep,
    principal: Annotated[
        Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD))
    ],
) -> CurrentLeadResponse:
    """The organisation's mapping lead now, and whether their account is set up."""
    ensure_can_see(principal, code)
    lead = await accounts.current_lead(code)
    return CurrentLeadResponse(
        account_id=lead.account_id,
        email=lead.email,
        name=lead.name,
        status=lead.status,  # type: ignore[arg-type]
    )


@router.get(
    "/organisations/{code}/lead/history",
    response_model=list[LeadNomination],
    responses=error_responses(401, 403, 404),
)
async def lead_history(
    code: str,
    accounts: AccountsDep,
    principal: Annotated[
        Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD))
    ],
) -> list[LeadNomination]:
    ensure_can_see(principal, code)
    return [
        LeadNomination.model_validate(e.model_dump()) for e in await accounts.lead_history(code)
    ]


@router.post(
    "/organisations/{code}/groups",
    status_code=201,
    response_model=GroupResponse,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def define_group(
    code: str,
    body: GroupRequest,
    request: Request,
    accounts: AccountsDep,
    principal: Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.MAPPING_LEAD))],
) -> GroupResponse:
    ensure_can_see(principal, code)
    group_id, owner = await accounts.define_group(
        code,
        body.name,
        body.kind,
        body.owner.email,
        body.owner.name,
        append_context(request, principal.actor),
    )
    return GroupResponse(
        group_id=group_id,
        organisation_id=code,
        name=body.name,
        kind=body.kind,
        owner_account_id=owner.account_id,
    )


@router.get(
    "/organisations/{code}/groups",
    response_model=list[GroupResponse],
    responses=error_responses(401, 403, 404),
)
async def list_groups(
    code: str,
    accounts: AccountsDep,
    principal: Annotated[
        Principal,
        Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD, Role.GROUP_OWNER)),
    ],
) -> list[GroupResponse]:
    ensure_can_see(principal, code)
    groups = await accounts.list_groups(code)
    if not principal.has(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD):
        groups = [g for g in groups if g.group_id == principal.group_id]
    return [GroupResponse.of(g) for g in groups]


@router.get(
    "/groups/{group_id}",
    response_model=GroupResponse,
    responses=error_responses(401, 403, 404),
)
async def get_group(
    group_id: str,
    accounts: AccountsDep,
    principal: Annotated[
        Principal,
        Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD, Role.GROUP_OWNER)),
    ],
) -> GroupResponse:
    group = await accounts.group(group_id)
    ensure_can_see(principal, group.organisation_id, "service group")
    if (
        principal.has(Role.GROUP_OWNER)
        and not principal.has(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.MAPPING_LEAD)
        and principal.group_id != group_id
    ):
        raise NotFound(f"no service group {group_id}")
    return GroupResponse.of(group)


@router.post(
    "/auth/set-up",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "The password is set."}, **error_responses(401, 413, 422)},
)
async def set_up(body: SetUpRequest, sign_in: SignInDep) -> Response:
    await sign_in.complete_setup(body.token, body.password)
    return Response(status_code=204)


def client_of(request: Request) -> str:
    """The caller's network address: the person's, when the portal vouches for it
    (`csm_kernel.client_address`), else the connection's (behind a proxy, as uvicorn takes it
    from X-Forwarded-For when the proxy is in FORWARDED_ALLOW_IPS)."""
    proof: ClientProof | None = getattr(request.app.state, "client_proof", None)
    vouched = proof.vouched(request.headers) if proof is not None else None
    if vouched is not None:
        return vouched
    return request.client.host if request.client is not None else "unknown"


@router.post(
    "/auth/sign-in",
    response_model=SignInResponse,
    responses=error_responses(401, 413, 422, 429),
)
async def sign_in_(body: SignInRequest, request: Request, sign_in: SignInDep) -> SignInResponse:
    signed_in = await sign_in.sign_in(
        body.email, body.password, client=client_of(request), device_token=body.device_token
    )
    tokens = signed_in.tokens
    return SignInResponse(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        device_token=signed_in.device_token,
    )


@router.post(
    "/auth/refresh",
    response_model=TokensResponse,
    responses=error_responses(401, 413, 422),
)
async def refresh(body: RefreshRequest, sign_in: SignInDep) -> TokensResponse:
    tokens = await sign_in.refresh(body.refresh_token)
    return TokensResponse(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@router.post(
    "/auth/sign-out",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "The session has ended."}, **error_responses(401)},
)
async def sign_out(
    sign_in: SignInDep, principal: Annotated[Principal, Depends(current_principal)]
) -> Response:
    await sign_in.sign_out(principal)
    return Response(status_code=204)


@router.get(
    "/auth/me",
    response_model=MeResponse,
    responses=error_responses(401),
)
async def me(principal: Annotated[Principal, Depends(current_principal)]) -> MeResponse:
    return MeResponse(
        account_id=principal.user_id,
        roles=sorted(principal.roles),
        organisation_id=principal.organisation_id,
        group_id=principal.group_id,
    )
