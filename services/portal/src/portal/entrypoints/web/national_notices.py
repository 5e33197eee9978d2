"""The national team's messages to organisations (notification service): the deadline
reminders' schedule for a cycle, and e-bulletins to every mapping lead or a chosen few.

Reminders go out by themselves as the close nears (the notification service's clock); there
is no "send now", so the page shows the schedule, what has been sent, and who is due next."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...adapters.api import ApiError
from ...application.numbers import whole_number
from .forms import form_of, text, texts, values
from .national import KINDS, REGIONS
from .rendering import FormErrors, render
from .session import National, NationalReader, Session

router = APIRouter()

BULLETIN_FIELDS = {
    "subject": ("subject", "Subject"),
    "body": ("body", "Message"),
    "filter.regions": ("regions", "Regions"),
    "filter.kinds": ("kinds", "Types of organisation"),
    "filter.organisation_ids": ("organisations", "Organisations"),
    # "no mapping lead matches" names the filter as a whole.
    "filter": ("regions", "Who it goes to"),
}


async def _reminders(request: Request, session: Session, cycle: str) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = await request.app.state.portal.apis.notification.get(
            f"/reminders/{cycle}", token=session.token
        )
    except ApiError as exc:
        # The notification service learns of a cycle from its events: until then it has none.
        if exc.status != 404:
            raise
        return None
    return status


async def _reminders_page(
    request: Request, session: Session, cycle: str, status: int = 200, **ctx: Any
) -> Response:
    found = await _reminders(request, session, cycle)
    shown = ctx.pop("values", None)
    if shown is None:
        shown = {"days_before": ", ".join(str(d) for d in (found or {}).get("days_before", []))}
    return render(
        request,
        "national/reminders.html",
        status,
        title=f"{cycle} reminders",
        cycle=cycle,
        r=found,
        values=shown,
        **ctx,
    )


@router.get("/national/cycles/{cycle}/reminders")
async def reminders(
    request: Request, cycle: str, session: NationalReader, done: str | None = None
) -> Response:
    return await _reminders_page(request, session, cycle, done=done)


@router.post("/national/cycles/{cycle}/reminders")
async def set_schedule(request: Request, cycle: str, session: National) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    typed = [p for p in re.split(r"[\s,;]+", text(form, "days_before")) if p]
    days = [whole_number(p) for p in typed]
    if not typed:
        errors.add("days_before", "Enter how many days before the close to send reminders")
    elif any(d is None or d < 0 for d in days):
        errors.add(
            "days_before", "Enter whole numbers of days separated by commas, like 28, 14, 7, 1"
        )
    if not errors:
        try:
            await request.app.state.portal.apis.notification.put(
                f"/reminders/{cycle}/schedule",
                token=session.token,
                json={"days_before": days},
            )
        except ApiError as exc:
            if exc.status != 422:
                raise
            errors = FormErrors.from_api(
                exc,
                {"days_before": ("days_before", "Days before the close")},
                fallback="days_before",
            )
        else:
            return RedirectResponse(f"/national/cycles/{cycle}/reminders?done=saved", 303)
    return await _reminders_page(request, session, cycle, 422, errors=errors, values=values(form))


@router.get("/national/bulletins")
async def bulletins(
    request: Request,
    session: NationalReader,
    done: str | None = None,
    recipients: int | None = None,
) -> Response:
    sent = await request.app.state.portal.apis.notification.get("/bulletins", token=session.token)
    return render(
        request,
        "national/bulletins.html",
        title="Bulletins",
        bulletins=sent,
        done=done,
        recipients=recipients,
        width="full",
    )


def _compose(request: Request, status: int = 200, **ctx: Any) -> Response:
    return render(
        request,
        "national/bulletin_new.html",
        status,
        title="Send a bulletin",
        kinds=KINDS,
        regions=REGIONS,
        **ctx,
    )


@router.get("/national/bulletins/new")
async def compose(request: Request, _: National) -> Response:
    return _compose(request, values={})


@router.post("/national/bulletins/new")
async def publish(request: Request, session: National) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    subject, body = text(form, "subject"), text(form, "body")
    if not subject:
        errors.add("subject", "Enter the bulletin's subject")
    if not body:
        errors.add("body", "Enter the bulletin's message")
    if errors:
        return _compose(request, 422, errors=errors, values=values(form))
    listed = re.split(r"[\s,;]+", text(form, "organisations").upper())
    audience = {
        "regions": texts(form, "regions"),
        "kinds": texts(form, "kinds"),
        "organisation_ids": [code for code in listed if code],
    }
    try:
        sent = await request.app.state.portal.apis.notification.post(
            "/bulletins",
            token=session.token,
            json={
                "subject": subject,
                "body": body,
                "filter": audience if any(audience.values()) else None,
            },
        )
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = FormErrors.from_api(exc, BULLETIN_FIELDS, fallback="subject")
        return _compose(request, 422, errors=errors, values=values(form))
    count = sent.get("recipients") if isinstance(sent, dict) else None
    return RedirectResponse(f"/national/bulletins?done=sent&recipients={count or 0}", 303)
