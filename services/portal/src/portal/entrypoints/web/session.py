"""Who is signed in: registration's access token, kept in a cookie and sent on as a bearer.

The cookies are HttpOnly (no script reads them), Secure and SameSite=Lax (a page on another
site cannot post a form with them, yet a link from an email still arrives signed in). The
portal reads the token's roles to choose pages and links; the services check it on every call,
so a forged cookie fools nobody but its maker. An expired token is swapped for a new one with
the refresh token, once, before the page is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, TokenVerifier
from csm_kernel.errors import Unauthorised

from ...adapters.api import ApiError

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
        return self.principal.has(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR)

    @property
    def is_lead(self) -> bool:
        return self.principal.has(Role.MAPPING_LEAD)

    @property
    def answers(self) -> bool:
        return self.principal.has(Role.MAPPING_LEAD, Role.GROUP_OWNER)


async def _principal(request: Request, token: str) -> Principal:
    portal = request.app.state.portal
    verifier: TokenVerifier | None = portal.verifier
    if verifier is not None:
        return verifier.verify(token)
    try:
        me = await portal.apis.registration.get("/auth/me", token=token)
    except ApiError as exc:
        raise Unauthorised("sign in again") from exc
    return Principal(
        user_id=me["account_id"],
        session_id="",
        roles=frozenset(Role(r) for r in me["roles"]),
        organisation_id=me.get("organisation_id"),
        group_id=me.get("group_id"),
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
    request.state.session = session
    return session


async def _refreshed(request: Request, email: str | None) -> Session | None:
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        request.state.clear_session = True
        return None
    portal = request.app.state.portal
    try:
        tokens = await portal.apis.registration.post(
            "/auth/refresh", json={"refresh_token": refresh}
        )
        session = Session(
            tokens["access_token"], await _principal(request, tokens["access_token"]), email
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


def role_session(*roles: Role) -> Any:
    async def dependency(request: Request) -> Session:
        session = await required_session(request)
        if not session.principal.has(*roles):
            raise NotAllowed()
        return session

    return Depends(dependency)


OptionalSession = Annotated[Session | None, Depends(optional_session)]
SignedIn = Annotated[Session, Depends(required_session)]
Lead = Annotated[Session, role_session(Role.MAPPING_LEAD, Role.GROUP_OWNER)]
MappingLead = Annotated[Session, role_session(Role.MAPPING_LEAD)]
National = Annotated[Session, role_session(Role.NATIONAL_ADMIN)]
NationalReader = Annotated[Session, role_session(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR)]


def set_session_cookies(
    request: Request, response: Response, tokens: dict[str, Any], email: str | None
) -> None:
    secure = request.app.state.portal.settings.cookie_secure
    common: dict[str, Any] = {"httponly": True, "secure": secure, "samesite": "lax", "path": "/"}
    response.set_cookie(ACCESS_COOKIE, tokens["access_token"], **common)
    response.set_cookie(REFRESH_COOKIE, tokens["refresh_token"], **common)
    if email is not None:
        response.set_cookie(USER_COOKIE, email, **common)


def clear_session_cookies(response: Response) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, USER_COOKIE):
        response.delete_cookie(name, path="/")
