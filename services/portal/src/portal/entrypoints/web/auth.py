"""Start page, sign in and out, setting a password from the emailed set-up link, and a way
back in: a forgotten password, a set-up link sent again (by the person, or by the national
team for a lead), and what a link is before anyone types a password. When a session has ended,
the sign-in page says so, and what a person had just sent is kept through signing in again
(`kept_forms`)."""

from __future__ import annotations

import contextlib
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ...application.errors import ApiError
from ...application.models import Tokens
from ...application.permissions import home_of
from ...application.ports import RegistrationApi
from ...application.way_back_in import LinkStatus
from . import csrf
from .deps import Registration, portal_of
from .forms import back_to, form_of, safe_next, text, values
from .kept_forms import FIELD, KeptForm, account_of, keepable, seal, unseal
from .rendering import FormErrors, render
from .session import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    USER_COOKIE,
    National,
    OptionalSession,
    clear_session_cookies,
    set_session_cookies,
)
from .sign_in_client import client_headers, device_token, remember_device

router = APIRouter(default_response_class=HTMLResponse)

MIN_PASSWORD = 12


@router.get("/")
async def start(request: Request, session: OptionalSession) -> Response:
    home = home_of(session.principal) if session is not None else None
    if home is not None:
        return RedirectResponse(home, status_code=303)
    return render(request, "auth/start.html", title="Children's Services Mapping")


@router.get("/sign-in")
async def sign_in_page(
    request: Request,
    next: Annotated[str | None, Query()] = None,
    done: Annotated[str | None, Query()] = None,
    reason: Annotated[str | None, Query()] = None,
) -> Response:
    return render(
        request,
        "auth/sign_in.html",
        title="Sign in",
        hide_account=True,
        next=safe_next(next),
        done=done,
        reason=reason if reason in REASONS else None,
        values={"email": request.cookies.get(USER_COOKIE) or ""} if reason else {},
    )


#: Why someone is asked to sign in (`?reason=`).
REASONS = {"session-ended"}


async def sign_in_again(request: Request) -> Response:
    """The answer to a page that needs a session when there is none (errors.py). A form sent
    after the session ended is kept (sealed, see `kept_forms`) and the sign-in page is shown in
    its place, saying why; any other request goes to the sign-in page and back."""
    ended = bool(request.cookies.get(ACCESS_COOKIE) or request.cookies.get(REFRESH_COOKIE))
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # A form the person sent, not htmx's background re-render of the page (which is no Save).
    if ended and request.method == "POST" and not request.headers.get("hx-request"):
        back = back_to(request)
        sealed = await _kept(request, back)
        if sealed is not None:
            request.state.clear_session = True  # the page's form token is for no session
            page = render(
                request,
                "auth/sign_in.html",
                title="Sign in",
                hide_account=True,
                next=back,
                reason="session-ended",
                kept=sealed,
                values={"email": request.cookies.get(USER_COOKIE) or ""},
            )
            clear_session_cookies(page)
            return page
        target = back
    query = f"next={quote(target)}" + ("&reason=session-ended" if ended else "")
    response = RedirectResponse(f"/sign-in?{query}", status_code=303)
    clear_session_cookies(response)
    return response


async def _kept(request: Request, back: str) -> str | None:
    account = account_of(request.cookies.get(ACCESS_COOKIE))
    if not account:
        return None
    try:
        form = await request.form()
    except Exception:  # a body that is not a form: nothing to keep
        return None
    fields = keepable(request, form)
    return seal(request, account, fields, back) if fields else None


@router.post("/sign-in")
async def sign_in(request: Request, registration: Registration) -> Response:
    form = await form_of(request)
    email, password = text(form, "email"), form.get("password")
    target = safe_next(text(form, "next"))
    errors = FormErrors()
    if not email:
        errors.add("email", "Enter your email address")
    if not isinstance(password, str) or not password:
        errors.add("password", "Enter your password")
    if not errors and isinstance(password, str):
        try:
            tokens = await registration.sign_in(
                email, password, device_token(request), client_headers(request)
            )
        except ApiError as exc:
            if exc.status == 401:
                errors.add("email", "Enter a correct email address and password")
            elif exc.status == 429:
                errors.add("email", exc.message)
            else:
                errors = FormErrors.from_api(
                    exc,
                    {"email": ("email", "Email address"), "password": ("password", "Password")},
                    fallback="email",
                )
        else:
            csrf.rotate(request)  # no form token from before signing in works after
            kept = unseal(request, text(form, FIELD))
            response: Response
            if kept is not None and kept.account_id == account_of(tokens.access_token):
                response = _kept_page(request, kept, tokens)
            else:
                response = RedirectResponse(target, status_code=303)
            set_session_cookies(request, response, tokens, email)
            remember_device(request, response, tokens)
            return response
    kept_field = text(form, FIELD)
    return render(
        request,
        "auth/sign_in.html",
        422,
        title="Sign in",
        hide_account=True,
        next=target,
        errors=errors,
        values={"email": email},
        kept=kept_field or None,
        reason="session-ended" if kept_field else None,
    )


def _kept_page(request: Request, kept: KeptForm, tokens: Tokens) -> Response:
    """What was sent before signing in again, to be saved with one button (a form token for
    the new session, so it passes the same checks as any Save)."""
    secret = request.state.csrf_secret
    return render(
        request,
        "auth/kept.html",
        title="Your changes have not been saved yet",
        kept=kept,
        csrf_token=csrf.token_for(secret, csrf.session_id_of(tokens.access_token)),
    )


@router.post("/sign-out")
async def sign_out(
    request: Request, session: OptionalSession, registration: Registration
) -> Response:
    if session is not None:
        # Signing out of the portal must not depend on registration answering.
        with contextlib.suppress(Exception):
            await registration.sign_out(session.token)
    response = RedirectResponse("/sign-in?done=signed-out", status_code=303)
    clear_session_cookies(response)
    csrf.rotate(request)
    return response


# --- a way back in ------------------------------------------------------------------------

#: The two links a person may ask for by email address: (page heading, what the page says).
ASK_FOR = {
    "password-reset": (
        "Reset your password",
        "Enter the email address you sign in with. We will email you a link to choose a new "
        "password. The link works once, for 1 hour.",
    ),
    "set-up": (
        "Get a new set-up link",
        "Set-up links work once, for 72 hours. Enter the email address your set-up link was "
        "sent to and we will email you a new one (the old one will stop working).",
    ),
}
ASK_PATHS = {"password-reset": "/forgotten-password", "set-up": "/set-up-link"}


def _ask_page(request: Request, kind: str, status: int = 200, **context: object) -> HTMLResponse:
    heading, hint = ASK_FOR[kind]
    context.setdefault("values", {})
    return render(
        request,
        "auth/ask_link.html",
        status,
        title=heading,
        heading=heading,
        hint=hint,
        action=ASK_PATHS[kind],
        kind=kind,
        **context,
    )


async def _ask(request: Request, registration: RegistrationApi, kind: str) -> Response:
    form = await form_of(request)
    email = text(form, "email")
    errors = FormErrors()
    if not email:
        errors.add("email", "Enter your email address")
    elif "@" not in email:
        errors.add("email", "Enter an email address in the correct format, like name@example.com")
    if not errors:
        try:
            await registration.request_link(kind, email, client_headers(request))
        except ApiError as exc:
            if exc.status == 429:
                errors.add(
                    "email",
                    "You have asked for too many links. Wait up to an hour, then try again",
                )
            else:
                errors = FormErrors.from_api(
                    exc, {"email": ("email", "Email address")}, fallback="email"
                )
        else:
            return render(
                request, "auth/link_sent.html", title="Check your email", email=email, kind=kind
            )
    status = 429 if any("too many" in t for _, t in errors.items) else 422
    return _ask_page(request, kind, status, errors=errors, values={"email": email})


@router.get("/forgotten-password")
async def forgotten_password_page(request: Request) -> Response:
    return _ask_page(request, "password-reset")


@router.post("/forgotten-password")
async def forgotten_password(request: Request, registration: Registration) -> Response:
    return await _ask(request, registration, "password-reset")


@router.get("/set-up-link")
async def set_up_link_page(request: Request) -> Response:
    return _ask_page(request, "set-up")


@router.post("/set-up-link")
async def set_up_link(request: Request, registration: Registration) -> Response:
    return await _ask(request, registration, "set-up")


def _unusable(request: Request, status: LinkStatus) -> HTMLResponse:
    """A link that does not work, said before anyone types a password: why, who to ask, and
    how to get a new one."""
    settings = portal_of(request).settings
    return render(
        request,
        "auth/link_unusable.html",
        410 if status.state != "not-valid" else 404,
        title="This link does not work",
        status=status,
        contact_team=settings.contact_team,
        contact_email=settings.contact_email,
    )


@router.get("/account/set-up")
async def set_up_page(request: Request, registration: Registration, token: str = "") -> Response:
    status = await registration.check_link(token or "-", "set-up")
    if not status.usable:
        return _unusable(request, status)
    return render(request, "auth/set_up.html", title="Create your password", token=token)


@router.get("/account/reset-password")
async def reset_password_page(
    request: Request, registration: Registration, token: str = ""
) -> Response:
    status = await registration.check_link(token or "-", "reset")
    if not status.usable:
        return _unusable(request, status)
    return render(request, "auth/reset_password.html", title="Choose a new password", token=token)


def _new_password(form: FormData) -> tuple[str | None, FormErrors]:
    password, confirm = form.get("password"), form.get("confirm")
    errors = FormErrors()
    if not isinstance(password, str) or not password:
        errors.add("password", "Enter a password")
    elif len(password) < MIN_PASSWORD:
        errors.add("password", f"Password must be {MIN_PASSWORD} characters or more")
    elif password != confirm:
        errors.add("confirm", "The passwords do not match")
    return (password if isinstance(password, str) and not errors else None), errors


@router.post("/account/reset-password")
async def reset_password(request: Request, registration: Registration) -> Response:
    form = await form_of(request)
    token = text(form, "token")
    password, errors = _new_password(form)
    if password is not None:
        try:
            await registration.reset_password(token, password)
        except ApiError as exc:
            if any(d.get("field") == "token" for d in exc.details):
                return _unusable(request, await registration.check_link(token or "-", "reset"))
            errors = FormErrors.from_api(
                exc, {"password": ("password", "Password")}, fallback="password"
            )
        else:
            return RedirectResponse("/sign-in?done=password-reset", status_code=303)
    return render(
        request,
        "auth/reset_password.html",
        422,
        title="Choose a new password",
        token=token,
        errors=errors,
    )


@router.post("/national/organisations/{code}/lead/set-up-link")
async def send_lead_a_set_up_link(
    request: Request, code: str, session: National, registration: Registration
) -> Response:
    """The national team sends a lead who has not set up their account a new link."""
    lead = await registration.current_lead(session.token, code)
    await registration.send_set_up_link(session.token, lead.account_id)
    return RedirectResponse(f"/national/organisations/{code}?done=link-sent", status_code=303)


@router.post("/account/set-up")
async def set_up(request: Request, registration: Registration) -> Response:
    form = await form_of(request)
    token = text(form, "token")
    password, errors = _new_password(form)
    if password is not None:
        try:
            await registration.set_up(token, password)
        except ApiError as exc:
            if any(d.get("field") == "token" for d in exc.details):
                return _unusable(request, await registration.check_link(token or "-", "set-up"))
            errors = FormErrors.from_api(
                exc,
                {"password": ("password", "Password"), "token": ("password", "Your set-up link")},
                fallback="password",
            )
        else:
            return RedirectResponse("/sign-in?done=password-set", status_code=303)
    return render(
        request,
        "auth/set_up.html",
        422,
        title="Create your password",
        token=token,
        errors=errors,
        values=values(form),
    )
