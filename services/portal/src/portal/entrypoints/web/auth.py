"""Start page, sign in and out, and setting a password from the emailed set-up link."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.permissions import home_of
from . import csrf
from .deps import Registration
from .forms import form_of, safe_next, text, values
from .rendering import FormErrors, render
from .session import OptionalSession, clear_session_cookies, set_session_cookies
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
) -> Response:
    return render(
        request, "auth/sign_in.html", title="Sign in", next=safe_next(next), done=done, values={}
    )


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
            response = RedirectResponse(target, status_code=303)
            set_session_cookies(request, response, tokens, email)
            csrf.rotate(request)  # no form token from before signing in works after
            remember_device(request, response, tokens)
            return response
    return render(
        request,
        "auth/sign_in.html",
        422,
        title="Sign in",
        next=target,
        errors=errors,
        values={"email": email},
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


@router.get("/account/set-up")
async def set_up_page(request: Request, token: str = "") -> Response:
    return render(request, "auth/set_up.html", title="Create your password", token=token)


@router.post("/account/set-up")
async def set_up(request: Request, registration: Registration) -> Response:
    form = await form_of(request)
    token, password, confirm = text(form, "token"), form.get("password"), form.get("confirm")
    errors = FormErrors()
    if not isinstance(password, str) or not password:
        errors.add("password", "Enter a password")
    elif len(password) < MIN_PASSWORD:
        errors.add("password", f"Password must be {MIN_PASSWORD} characters or more")
    elif password != confirm:
        errors.add("confirm", "The passwords do not match")
    if not errors and isinstance(password, str):
        try:
            await registration.set_up(token, password)
        except ApiError as exc:
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
