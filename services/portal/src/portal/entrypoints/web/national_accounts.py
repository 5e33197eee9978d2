"""The national team's own accounts: who there is, adding one (its set-up link is emailed)
and disabling one after a confirmation saying what it does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.national_accounts import ROLES, NationalAccount
from .deps import Registration
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .session import National

router = APIRouter(default_response_class=HTMLResponse)

_FIELDS = {
    "email": ("email", "Email address"),
    "name": ("name", "Full name"),
    "role": ("role", "Role"),
    "reason": ("reason", "Reason"),
    "account_id": ("reason", "Account"),
}


@router.get("/national/accounts")
async def accounts(
    request: Request,
    session: National,
    registration: Registration,
    done: str | None = None,
    who: str | None = None,
) -> Response:
    found = await registration.national_accounts(session.token)
    return render(
        request,
        "national/accounts.html",
        title="National accounts",
        accounts=found,
        me=session.principal.user_id,
        done=done,
        who=who,
        width="full",
    )


def _new_form(request: Request, status: int = 200, **ctx: object) -> Response:
    return render(
        request, "national/account_new.html", status, title="Add an account", roles=ROLES, **ctx
    )


@router.get("/national/accounts/new")
async def new_account_page(request: Request, _: National) -> Response:
    return _new_form(request, values={})


@router.post("/national/accounts/new")
async def new_account(request: Request, session: National, registration: Registration) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    name, email, role = text(form, "name"), text(form, "email"), text(form, "role")
    if not name:
        errors.add("name", "Enter their full name")
    if not email:
        errors.add("email", "Enter their email address")
    elif "@" not in email:
        errors.add("email", "Enter an email address in the correct format, like a@b.org")
    if role not in {value for value, _, _ in ROLES}:
        errors.add("role", "Select the account's role")
    if not errors:
        try:
            await registration.create_national_account(session.token, email, name, role)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, _FIELDS, fallback="email")
        else:
            return RedirectResponse(f"/national/accounts?done=added&who={email}", 303)
    return _new_form(request, 422, errors=errors, values=values(form))


async def _account(
    session: National, registration: Registration, account_id: str
) -> NationalAccount | None:
    found = await registration.national_accounts(session.token)
    return next((a for a in found if a.account_id == account_id), None)


@router.get("/national/accounts/{account_id}/disable")
async def disable_page(
    request: Request, account_id: str, session: National, registration: Registration
) -> Response:
    account = await _account(session, registration, account_id)
    if account is None:
        return render(request, "errors/not_found.html", 404, title="Page not found")
    return render(
        request,
        "national/account_disable.html",
        title=f"Disable {account.name}'s account",
        account=account,
        own=account.account_id == session.principal.user_id,
        values={},
    )


@router.post("/national/accounts/{account_id}/disable")
async def disable(
    request: Request, account_id: str, session: National, registration: Registration
) -> Response:
    form = await form_of(request)
    account = await _account(session, registration, account_id)
    if account is None:
        return render(request, "errors/not_found.html", 404, title="Page not found")
    errors = FormErrors()
    reason = text(form, "reason")
    if not reason:
        errors.add("reason", "Enter why the account is being disabled")
    if not errors:
        try:
            await registration.disable_account(session.token, account_id, reason)
        except ApiError as exc:
            if exc.status != 422:
                raise
            errors = FormErrors.from_api(exc, _FIELDS, fallback="reason")
        else:
            return RedirectResponse(f"/national/accounts?done=disabled&who={account.email}", 303)
    return render(
        request,
        "national/account_disable.html",
        422,
        title=f"Disable {account.name}'s account",
        account=account,
        own=account.account_id == session.principal.user_id,
        errors=errors,
        values=values(form),
    )
