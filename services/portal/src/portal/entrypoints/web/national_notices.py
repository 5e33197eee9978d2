"""The national team's messages to organisations (notification service): the deadline
reminders' schedule for a cycle (the bulletins are `national_bulletins`).

Reminders go out by themselves as the close nears (the notification service's clock); there
is no "send now", so the page shows the schedule, what has been sent, and who is due next."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.models import Reminders
from ...application.notices import days_before, days_problem
from ...application.ports import NotificationApi, RegistrationApi
from .deps import Notifications, Registration
from .forms import form_of, text, values
from .people import names_of
from .rendering import FormErrors, render
from .session import National, NationalReader, Session

router = APIRouter(default_response_class=HTMLResponse)


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
