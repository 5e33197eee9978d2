"""Who is signed in: registration's access token, kept in a cookie and sent on as a bearer.

The cookies are HttpOnly (no script reads them), Secure and SameSite=Lax (a page on another
site cannot post a form with them, yet a link from an email still arrives signed in). The
portal reads the token's roles to choose pages and links; the services check it on every call,
so a forged cookie fools nobody but its maker. An expired token is swapped for a new one with
the refresh token, once, before the page is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, params
from fastapi.responses import Response

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, TokenVerifier
from csm_kernel.errors import Unauthorised

from ...application.errors import ApiError, ServiceUnavailable
from ...application.models import Tokens
from ...application.permissions import answers_questionnaires, reads_nationally
from .deps import portal_of

ACCESS_COOKIE = "csm_session"
REFRESH_COOKIE = "csm_refresh"
USER_COOKIE = "csm_user"


class SignInRequired(Exception):
    """The page needs a signed-in person (redirect to sign in, then back)."""


class NotAllowed(Exception):
    """Signed in, but this page is for another role."""


@dataclass
class Session:
    token: str
    principal: Principal
    email: str | None = None
    #: The person's name and their organisation's, as registration knows them (None until
    #: `named`, or when registration could not say).
    name: str | None = None
    organisation_name: str | None = None

    @property
    def roles(self) -> frozenset[Role]:
        return self.principal.roles

    @property
    def organisation_id(self) -> str | None:
        return self.principal.organisation_id

    @property
    def is_national(self) -> bool:
        return self.principal.has(Role.NATIONAL_ADMIN)

    @property
    def is_reader(self) -> bool:
        """The national team, auditors and regulators read across organisations."""
        return reads_nationally(self.principal)

    @property
    def is_lead(self) -> bool:
        return self.principal.has(Role.MAPPING_LEAD)

    @property
    def answers(self) -> bool:
        return answers_questionnaires(self.principal)


async def _principal(request: Request, token: str) -> Principal:
    portal = portal_of(request)
    verifier: TokenVerifier | None = portal.verifier
    if verifier is not None:
        return verifier.verify(token)
    try:
        me = await portal.apis.registration.me(token)
    except ApiError as exc:
        raise Unauthorised("sign in again") from exc
    return Principal(
        user_id=me.account_id,
        session_id="",
        roles=frozenset(Role(r) for r in me.roles),
        organisation_id=me.organisation_id,
        group_id=me.group_id,
    )


async def load_session(request: Request) -> Session | None:
    """The signed-in session, refreshing an expired token; None when nobody is signed in."""
    if hasattr(request.state, "session"):
        found: Session | None = request.state.session
        return found
    session = None
    token = request.cookies.get(ACCESS_COOKIE)
    email = request.cookies.get(USER_COOKIE)
    if token:
        try:
            session = Session(token, await _principal(request, token), email)
        except Unauthorised:
            session = await _refreshed(request, email)
    if session is not None:
        await _named(request, session)
    request.state.session = session
    return session


async def _named(request: Request, session: Session) -> None:
    """Put the person's name and organisation's name on the session (for the "signed in as"
    bar); a page is still shown, with the email and code, if registration cannot say."""
    portal = portal_of(request)
    person = portal.people.get(session.principal.user_id)
    if person is None:
        try:
            found = await portal.apis.registration.people(
                session.token, [session.principal.user_id]
            )
        except (ApiError, ServiceUnavailable):
            return
        if not found:
            return
        person = found[0]
        portal.people.put(person)
    session.name = person.name
    session.email = session.email or person.email
    session.organisation_name = person.organisation_name


async def _refreshed(request: Request, email: str | None) -> Session | None:
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        request.state.clear_session = True
        return None
    try:
        tokens = await portal_of(request).apis.registration.refresh(refresh)
        session = Session(
            tokens.access_token, await _principal(request, tokens.access_token), email
        )
    except (ApiError, Unauthorised):
        request.state.clear_session = True
        return None
    request.state.new_tokens = tokens
    return session


async def optional_session(request: Request) -> Session | None:
    return await load_session(request)


async def required_session(request: Request) -> Session:
    session = await load_session(request)
    if session is None:
        raise SignInRequired()
    return session


def role_session(*roles: Role) -> params.Depends:
    async def dependency(request: Request) -> Session:
        session = await required_session(request)
        if not session.principal.has(*roles):
            raise NotAllowed()
        return session

    return params.Depends(dependency)


OptionalSession = Annotated[Session | None, Depends(optional_session)]
SignedIn = Annotated[Session, Depends(required_session)]
Lead = Annotated[Session, role_session(Role.MAPPING_LEAD, Role.GROUP_OWNER)]
MappingLead = Annotated[Session, role_session(Role.MAPPING_LEAD)]
National = Annotated[Session, role_session(Role.NATIONAL_ADMIN)]
#: Who adds services from a file: the national team, and a lead their organisation's.
Importer = Annotated[Session, role_session(Role.NATIONAL_ADMIN, Role.MAPPING_LEAD)]
NationalReader = Annotated[Session, role_session(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR)]
#: Who reads a questionnaire's history: its lead or group owner, the national team and the
#: auditors (every history; the questionnaire service checks which questionnaire).
HistoryReader = Annotated[
    Session,
    role_session(Role.MAPPING_LEAD, Role.GROUP_OWNER, Role.NATIONAL_ADMIN, Role.AUDITOR),
]


def set_session_cookies(
    request: Request, response: Response, tokens: Tokens, email: str | None
) -> None:
    secure = portal_of(request).settings.cookie_secure
    for name, value in (
        (ACCESS_COOKIE, tokens.access_token),
        (REFRESH_COOKIE, tokens.refresh_token),
        (USER_COOKIE, email),
    ):
        if value is not None:
            response.set_cookie(name, value, httponly=True, secure=secure, samesite="lax", path="/")


def clear_session_cookies(response: Response) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, USER_COOKIE):
        response.delete_cookie(name, path="/")
