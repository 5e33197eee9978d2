"""Typed FastAPI dependencies: the application `bootstrap` built at start, reached from
`app.state` (never built per request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from csm_kernel.errors import Unauthorised

from ...application.accounts import Accounts
from ...application.national_accounts import NationalAccounts
from ...application.people import People
from ...application.ports import Directory, OrganisationRepository
from ...application.services import Registration
from ...application.sign_in import SignIn
from ...application.way_back_in import WayBackIn


async def registration_of(request: Request) -> Registration:
    registration: Registration = request.app.state.registration
    return registration


async def organisations_of(request: Request) -> OrganisationRepository:
    return (await registration_of(request)).organisations


async def directory_of(request: Request) -> Directory:
    return (await registration_of(request)).directory


async def accounts_of(request: Request) -> Accounts:
    return (await registration_of(request)).accounts


async def national_accounts_of(request: Request) -> NationalAccounts:
    return (await registration_of(request)).national_accounts


async def people_of(request: Request) -> People:
    return (await registration_of(request)).people


async def sign_in_of(request: Request) -> SignIn:
    # `app.state.sign_in` is the one `bootstrap` built (tests may swap it for another policy).
    sign_in: SignIn | None = getattr(request.app.state, "sign_in", None)
    if sign_in is None:
        raise Unauthorised("sign-in is not configured on this server (no signing key)")
    return sign_in


async def way_back_in_of(request: Request) -> WayBackIn:
    # `app.state.way_back_in` is the one `bootstrap` built (tests may swap its policy).
    found: WayBackIn = request.app.state.way_back_in
    return found


OrganisationsDep = Annotated[OrganisationRepository, Depends(organisations_of)]
DirectoryDep = Annotated[Directory, Depends(directory_of)]
AccountsDep = Annotated[Accounts, Depends(accounts_of)]
NationalAccountsDep = Annotated[NationalAccounts, Depends(national_accounts_of)]
PeopleDep = Annotated[People, Depends(people_of)]
SignInDep = Annotated[SignIn, Depends(sign_in_of)]
WayBackInDep = Annotated[WayBackIn, Depends(way_back_in_of)]
