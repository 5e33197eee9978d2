"""The national team's messages to organisations (notification service): the deadline
reminders' schedule for a cycle, and e-bulletins to every mapping lead or a chosen few.

Reminders go out by themselves as the close nears (the notification service's clock); there
is no "send now", so the page shows the schedule, what has been sent, and who is due next."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.models import Reminders
from ...application.notices import audience, days_before, days_problem
from ...application.ports import NotificationApi, RegistrationApi
from ...application.returns import current_cycle
from .deps import Notifications, Questionnaires, Registration
from .forms import form_of, text, texts, values
from .national import KINDS, REGIONS
from .people import names_of
from .rendering import FormErrors, render
from .session import National, NationalReader, Session

router = APIRouter(default_response_class=HTMLResponse)

BULLETIN_FIELDS = {
    "subject": ("subject", "Subject"),
    "body": ("body", "Message"),
    "filter.regions": ("regions", "Regions"),
    "filter.kinds": ("kinds", "Types of organisation"),
    "filter.organisation_ids": ("organisations", "Organisations"),
    # "no mapping lead matches" names the filter as a whole.
    "filter": ("regions", "Who it goes to"),
}


async def _reminders(api: NotificationApi, session: Session, cycle: str) -> Reminders | None:
    try:
        status = await api.reminders(session.token, cycle)
    except ApiError as exc:
        # The notification service learns of a cycle from its events: until then it has none.
        if exc.status != 404:
            raise
        return None
    return status


async def _reminders_page(
    request: Request,
    api: NotificationApi,
    registration: RegistrationApi,
    session: Session,
    cycle: str,
    status: int = 200,
    **ctx: object,
) -> Response:
    found = await _reminders(api, session, cycle)
    set_by = [{"actor": found.schedule_set_by}] if found and found.schedule_set_by else []
    shown = ctx.pop("values", None)
    if shown is None:
        days = found.days_before if found is not None else []
        shown = {"days_before": ", ".join(str(d) for d in days)}
    return render(
        request,
        "national/reminders.html",
        status,
        title=f"{cycle} reminders",
        cycle=cycle,
        r=found,
        names=await names_of(registration, session, set_by),
        values=shown,
        **ctx,
    )


@router.get("/national/cycles/{cycle}/reminders")
async def reminders(
    request: Request,
    cycle: str,
    session: NationalReader,
    api: Notifications,
    registration: Registration,
    done: str | None = None,
) -> Response:
    return await _reminders_page(request, api, registration, session, cycle, done=done)


@router.post("/national/cycles/{cycle}/reminders")
async def set_schedule(
    request: Request,
    cycle: str,
    session: National,
    api: Notifications,
    registration: Registration,
) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    typed = text(form, "days_before")
    problem = days_problem(typed)
    if problem is not None:
        errors.add("days_before", problem)
    if not errors:
        try:
            await api.set_reminder_schedule(session.token, cycle, days_before(typed))
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
    return await _reminders_page(
        request, api, registration, session, cycle, 422, errors=errors, values=values(form)
    )


@router.get("/national/bulletins")
async def bulletins(
    request: Request,
    session: NationalReader,
    api: Notifications,
    registration: Registration,
    done: str | None = None,
    recipients: int | None = None,
) -> Response:
    sent = await api.bulletins(session.token)
    senders = [{"actor": b.created_by} for b in sent if b.created_by]
    return render(
        request,
        "national/bulletins.html",
        title="Bulletins",
        bulletins=sent,
        names=await names_of(registration, session, senders),
        done=done,
        recipients=recipients,
        width="full",
    )


def _compose(
    request: Request, status: int = 200, cycle: str | None = None, **ctx: object
) -> Response:
    return render(
        request,
        "national/bulletin_new.html",
        status,
        title="Send a bulletin",
        kinds=KINDS,
        regions=REGIONS,
        cycle=cycle,
        **ctx,
    )


@router.get("/national/bulletins/new")
async def compose(request: Request, session: National, cycles: Questionnaires) -> Response:
    cycle = current_cycle(await cycles.cycles(session.token))
    return _compose(request, cycle=cycle, values={})


@router.post("/national/bulletins/new")
async def publish(
    request: Request, session: National, api: Notifications, cycles: Questionnaires
) -> Response:
    cycle = current_cycle(await cycles.cycles(session.token))
    form = await form_of(request)
    errors = FormErrors()
    subject, body = text(form, "subject"), text(form, "body")
    if not subject:
        errors.add("subject", "Enter the bulletin's subject")
    if not body:
        errors.add("body", "Enter the bulletin's message")
    if errors:
        return _compose(request, 422, cycle, errors=errors, values=values(form))
    behind = cycle if cycle and text(form, "not_signed_off") == "yes" else None
    chosen = audience(
        texts(form, "regions"), texts(form, "kinds"), text(form, "organisations"), behind
    )
    if text(form, "confirm") != "yes" or text(form, "change"):
        if text(form, "change"):
            return _compose(request, cycle=cycle, values=values(form))
        # Nothing goes out before the person has seen the email and how many it reaches.
        try:
            preview = await api.preview_bulletin(
                session.token, {"subject": subject, "body": body, "filter": chosen}
            )
        except ApiError as exc:
            if exc.status != 422:
                raise
            errors = FormErrors.from_api(exc, BULLETIN_FIELDS, fallback="subject")
            return _compose(request, 422, cycle, errors=errors, values=values(form))
        return render(
            request,
            "national/bulletin_check.html",
            title="Check the bulletin before sending it",
            preview=preview,
            values=values(form),
            regions=dict(REGIONS),
            kinds=dict(KINDS),
        )
    try:
        count = await api.publish_bulletin(
            session.token, {"subject": subject, "body": body, "filter": chosen}
        )
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = FormErrors.from_api(exc, BULLETIN_FIELDS, fallback="subject")
        return _compose(request, 422, cycle, errors=errors, values=values(form))
    return RedirectResponse(f"/national/bulletins?done=sent&recipients={count or 0}", 303)
