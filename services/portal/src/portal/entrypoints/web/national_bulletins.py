"""E-bulletins (notification service): the national team writes one to every mapping lead or a
chosen few, checks the email and how many it reaches, and sends it now or schedules it for a
date and time (UK time). A scheduled one can be sent early or cancelled, each after a
confirmation. Its recipients are worked out when it is sent, and the pages say so."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ...application.dates import When, gov_datetime, read_when
from ...application.errors import ApiError
from ...application.history import actor_name
from ...application.models import Bulletin, JsonObject
from ...application.notices import audience, audience_words
from ...application.ports import RegistrationApi
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
#: The date and time a bulletin is scheduled for; a time left blank is 9am.
SEND_AT = When("send_at", "Date and time to send it", default_time="09:00", event="to send it")


def _errors(exc: ApiError) -> FormErrors:
    """The service's refusal on the form; its reasons for `send_at` ("must be in the future")
    complete a sentence about the date input."""
    timed = [d for d in exc.details if d.get("field") == "send_at"]
    if not timed:
        return FormErrors.from_api(exc, BULLETIN_FIELDS, fallback="subject")
    errors = FormErrors()
    for d in timed:
        errors.add(f"{SEND_AT.name}-day", f"The date and time to send it {d.get('reason')}")
    rest = [d for d in exc.details if d.get("field") != "send_at"]
    if rest:
        others = FormErrors.from_api(
            ApiError(exc.service, exc.status, exc.message, rest), BULLETIN_FIELDS
        )
        errors.items.extend(others.items)
    return errors


async def _names(
    registration: RegistrationApi, session: Session, bulletins: list[Bulletin]
) -> dict[str, str]:
    """Who wrote, sent or cancelled `bulletins`, as far as the reader may know them."""
    entries = [
        {"actor": who}
        for b in bulletins
        for who in (b.created_by, b.sent_by, b.cancelled_by)
        if who
    ]
    return await names_of(registration, session, entries)


@router.get("/national/bulletins")
async def bulletins(
    request: Request,
    session: NationalReader,
    api: Notifications,
    registration: Registration,
    done: str | None = None,
    recipients: int | None = None,
    at: str | None = None,
) -> Response:
    listed = await api.bulletins(session.token)
    return render(
        request,
        "national/bulletins.html",
        title="Bulletins",
        bulletins=listed,
        who={b.id: audience_words(b.filter) for b in listed},
        any_scheduled=any(b.scheduled for b in listed),
        names=await _names(registration, session, listed),
        done=done,
        recipients=recipients,
        at=at,
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
    return _compose(request, cycle=cycle, values={"when": "now"})


def _read_send_at(form: FormData, errors: FormErrors) -> datetime | None:
    """The moment typed when "at a date and time" is chosen (None: send it now)."""
    if text(form, "when") != "later":
        return None
    typed = {k: v for k, v in form.items() if isinstance(v, str)}
    moment, problem = read_when(typed, SEND_AT)
    if problem is not None:
        errors.add(f"{SEND_AT.name}-day", problem)
    return moment


@router.post("/national/bulletins/new")
async def publish(
    request: Request, session: National, api: Notifications, cycles: Questionnaires
) -> Response:
    cycle = current_cycle(await cycles.cycles(session.token))
    form = await form_of(request)
    if text(form, "change"):
        return _compose(request, cycle=cycle, values=values(form))
    errors = FormErrors()
    subject, body = text(form, "subject"), text(form, "body")
    if not subject:
        errors.add("subject", "Enter the bulletin's subject")
    if not body:
        errors.add("body", "Enter the bulletin's message")
    send_at = _read_send_at(form, errors)
    if errors:
        return _compose(request, 422, cycle, errors=errors, values=values(form))
    behind = cycle if cycle and text(form, "not_signed_off") == "yes" else None
    chosen = audience(
        texts(form, "regions"), texts(form, "kinds"), text(form, "organisations"), behind
    )
    bulletin: JsonObject = {"subject": subject, "body": body, "filter": chosen}
    if send_at is not None:
        bulletin["send_at"] = send_at.isoformat()
    if text(form, "confirm") != "yes":
        # Nothing goes out (or is scheduled) before the person has seen the email and whom
        # it reaches.
        try:
            preview = await api.preview_bulletin(session.token, bulletin)
        except ApiError as exc:
            if exc.status != 422:
                raise
            return _compose(request, 422, cycle, errors=_errors(exc), values=values(form))
        return render(
            request,
            "national/bulletin_check.html",
            title="Check the bulletin before "
            + ("scheduling" if send_at is not None else "sending")
            + " it",
            preview=preview,
            who=audience_words(preview.get("filter")),
            send_at=gov_datetime(send_at) if send_at is not None else None,
            values=values(form),
        )
    try:
        count = await api.publish_bulletin(session.token, bulletin)
    except ApiError as exc:
        if exc.status != 422:
            raise
        return _compose(request, 422, cycle, errors=_errors(exc), values=values(form))
    if send_at is not None:
        done = urlencode({"done": "scheduled", "at": send_at.isoformat()})
        return RedirectResponse(f"/national/bulletins?{done}", 303)
    return RedirectResponse(f"/national/bulletins?done=sent&recipients={count or 0}", 303)


# --- a scheduled bulletin: sent early or cancelled, each confirmed ------------------------------

_ACTIONS = {"send": "Send it now", "cancel": "Cancel it"}


async def _change_page(
    request: Request,
    api: Notifications,
    registration: RegistrationApi,
    session: Session,
    bulletin: Bulletin,
    action: str,
    status: int = 200,
    errors: FormErrors | None = None,
) -> Response:
    token = session.token
    now_count: int | None = None
    if action == "send" and bulletin.scheduled and not errors:
        # How many it would reach if sent now (they are worked out at sending).
        try:
            preview = await api.preview_bulletin(
                token,
                {
                    "subject": bulletin.subject or "",
                    "body": bulletin.body or "",
                    "filter": bulletin.filter.model_dump() if bulletin.filter else None,
                },
            )
        except ApiError as exc:
            if exc.status != 422:
                raise
            errors = _errors(exc)
            status = 422
        else:
            count = preview.get("recipients")
            now_count = count if isinstance(count, int) else None
    subject = bulletin.subject or "the bulletin"
    return render(
        request,
        "national/bulletin_change.html",
        status,
        title=("Send " if action == "send" else "Cancel ") + f"“{subject}”",
        b=bulletin,
        who=audience_words(bulletin.filter),
        action=action,
        now_count=now_count,
        by=actor_name(bulletin.created_by, await _names(registration, session, [bulletin])),
        errors=errors or FormErrors(),
        values={},
    )


@router.get("/national/bulletins/{bulletin_id}/{action}")
async def change_page(
    request: Request,
    bulletin_id: str,
    action: str,
    session: National,
    api: Notifications,
    registration: Registration,
) -> Response:
    if action not in _ACTIONS:
        return render(request, "errors/not_found.html", 404, title="Page not found")
    bulletin = await api.bulletin(session.token, bulletin_id)
    return await _change_page(request, api, registration, session, bulletin, action)


@router.post("/national/bulletins/{bulletin_id}/{action}")
async def change(
    request: Request,
    bulletin_id: str,
    action: str,
    session: National,
    api: Notifications,
    registration: Registration,
) -> Response:
    if action not in _ACTIONS:
        return render(request, "errors/not_found.html", 404, title="Page not found")
    await form_of(request)  # its CSRF token is checked
    try:
        if action == "send":
            sent = await api.send_bulletin_now(session.token, bulletin_id)
        else:
            await api.cancel_bulletin(session.token, bulletin_id)
    except ApiError as exc:
        # Sent or cancelled meanwhile (409), or nobody to send to now (422): say so.
        if exc.status not in (409, 422):
            raise
        bulletin = await api.bulletin(session.token, bulletin_id)
        errors = _errors(exc) if exc.status == 422 else FormErrors()
        if exc.status == 409:
            errors.add(None, _gone(bulletin))
        return await _change_page(
            request, api, registration, session, bulletin, action, exc.status, errors
        )
    if action == "send":
        return RedirectResponse(
            f"/national/bulletins?done=sent&recipients={sent.recipients or 0}", 303
        )
    return RedirectResponse("/national/bulletins?done=cancelled", 303)


def _gone(bulletin: Bulletin) -> str:
    if bulletin.status == "cancelled":
        return f"This bulletin was cancelled {gov_datetime(bulletin.cancelled_at)}"
    return f"This bulletin has already been sent, {gov_datetime(bulletin.sent_at)}"
