"""The national team's cycles: schedule one with its timetable, change the timetable, and
move a cycle to another phase ahead of its dates (questionnaire service)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ...application.dates import When, out_of_order, parts_of, read_when
from ...application.errors import ApiError, ServiceUnavailable
from ...application.models import Cycle
from ...application.numbers import whole_number
from ...application.ports import ReportingApi
from .deps import Questionnaires, Reporting
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .session import National

router = APIRouter(default_response_class=HTMLResponse)

TIMETABLE = (
    When("sandbox_opens", "Sandbox opens", event="the sandbox opens"),
    When(
        "data_entry_opens", "Data entry opens", after="Data entry must open after the sandbox opens"
    ),
    When(
        "summary_reports",
        "Summary reports are sent",
        after="Summary reports must be sent after data entry opens",
    ),
    When(
        "data_entry_closes",
        "Data entry closes",
        "17:00",
        after="Data entry must close after summary reports are sent",
    ),
    When(
        "publication",
        "Results are published",
        after="Results must be published after data entry closes",
    ),
)
PHASES = [
    ("scheduled", "Scheduled", "Nothing is open yet"),
    ("sandbox", "Sandbox", "The sandbox questionnaire is open; nothing is saved"),
    ("data-entry", "Data entry", "Questionnaires are issued and answered"),
    ("summary-reports", "Summary reports", "Per-LA summary reports can be checked"),
    ("closed", "Closed", "Answers are refused unless a return is extended or reopened"),
    ("published", "Published", "Returns are read-only tables"),
]
_CYCLE_FIELDS: dict[str, tuple[str, str]] = {
    "cycle": ("cycle", "Cycle"),
    "previous_cycle": ("previous_cycle", "Previous cycle"),
    "reason": ("reason", "Reason"),
    "phase": ("phase", "Phase"),
    "version": ("reason", "Timetable"),
    # A timetable out of order is refused as a whole; its message names the dates.
    "timetable": ("sandbox_opens-day", "Timetable"),
    **{f"timetable.{w.name}": (f"{w.name}-day", w.label) for w in TIMETABLE},
}


def _timetable(form: FormData, errors: FormErrors) -> dict[str, str]:
    typed = {k: v for k, v in form.items() if isinstance(v, str)}
    read: dict[str, datetime] = {}
    for field in TIMETABLE:
        at, problem = read_when(typed, field)
        if problem:
            errors.add(f"{field.name}-day", problem)
        elif at is not None:
            read[field.name] = at
    # Out of order: said on the date that is too early, as the service would refuse it whole.
    for field_id, problem in out_of_order(TIMETABLE, read):
        errors.add(field_id, problem)
    return {name: at.isoformat() for name, at in read.items()}


def _schedule_form(request: Request, status: int = 200, **ctx: object) -> Response:
    return render(
        request,
        "cycles/schedule.html",
        status,
        title="Schedule a cycle",
        timetable=TIMETABLE,
        **ctx,
    )


@router.get("/national/cycles/new")
async def schedule_page(request: Request, _: National) -> Response:
    return _schedule_form(request, values={})


@router.post("/national/cycles/new")
async def schedule(request: Request, session: National, api: Questionnaires) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    cycle = text(form, "cycle")
    if not cycle:
        errors.add("cycle", "Enter the cycle, like 2009-10")
    timetable = _timetable(form, errors)
    if errors:
        return _schedule_form(request, 422, errors=errors, values=values(form))
    body = {
        "cycle": cycle,
        "previous_cycle": text(form, "previous_cycle") or None,
        "timetable": timetable,
    }
    try:
        await api.schedule_cycle(session.token, body)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = FormErrors.from_api(exc, _CYCLE_FIELDS, fallback="cycle")
        return _schedule_form(request, 422, errors=errors, values=values(form))
    return RedirectResponse(f"/national/cycles/{cycle}?done=scheduled", status_code=303)


@router.get("/national/cycles/{cycle}")
async def cycle_page(
    request: Request, cycle: str, session: National, api: Questionnaires, done: str | None = None
) -> Response:
    found = await api.cycle(session.token, cycle)
    return render(
        request,
        "cycles/cycle.html",
        title=f"The {cycle} cycle",
        c=found,
        timetable=TIMETABLE,
        done=done,
    )


def _timetable_form(request: Request, c: Cycle, status: int = 200, **ctx: object) -> Response:
    return render(
        request,
        "cycles/timetable.html",
        status,
        title=f"Change the {c.cycle} timetable",
        c=c,
        timetable=TIMETABLE,
        **ctx,
    )


@router.get("/national/cycles/{cycle}/timetable")
async def timetable_page(
    request: Request, cycle: str, session: National, api: Questionnaires
) -> Response:
    c = await api.cycle(session.token, cycle)
    shown: dict[str, str] = {"version": str(c.version)}
    for field in TIMETABLE:
        shown.update(parts_of(c.timetable.get(field.name), field.name))
    return _timetable_form(request, c, values=shown)


@router.post("/national/cycles/{cycle}/timetable")
async def change_timetable(
    request: Request, cycle: str, session: National, api: Questionnaires
) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    timetable = _timetable(form, errors)
    reason = text(form, "reason")
    if not reason:
        errors.add("reason", "Enter why the timetable is changing")
    version = text(form, "version")
    if not errors:
        try:
            await api.change_timetable(
                session.token,
                cycle,
                {"version": whole_number(version) or 0, "timetable": timetable, "reason": reason},
            )
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, _CYCLE_FIELDS, fallback="reason")
            if exc.status == 409:
                # Someone changed it meanwhile: show the timetable as it now is.
                errors.add(None, "The timetable was changed by someone else: check it again")
        else:
            return RedirectResponse(f"/national/cycles/{cycle}?done=timetable", 303)
    c = await api.cycle(session.token, cycle)
    shown = values(form)
    if errors and text(form, "version") != str(c.version):
        shown["version"] = str(c.version)
    return _timetable_form(request, c, 422, errors=errors, values=shown)


#: What moving a cycle into each phase does, and to whom (the confirmation page says it).
CONSEQUENCES = {
    "sandbox": "The sandbox questionnaire opens to everyone. Nothing anyone types is saved.",
    "data-entry": "Every registered organisation is issued its questionnaires and its mapping"
    " lead can answer, delegate and submit them.",
    "summary-reports": "Per-area summary reports become available to check. Data entry stays open.",
    "closed": "Data entry closes for every organisation at once: their saves, submissions and"
    " sign-offs are refused from now on, except where a return has an extension (until it"
    " ends) or is reopened. Mapping leads are no longer sent deadline reminders.",
    "published": "Every return becomes read-only and the published tables are final. Nothing"
    " can be extended or reopened.",
}


def forward_phases(current: str) -> list[tuple[str, str, str]]:
    """The phases after `current`: a cycle only moves forward."""
    order = [value for value, _, _ in PHASES]
    after = order.index(current) + 1 if current in order else 0
    return PHASES[after:]


def _phase_form(request: Request, c: Cycle, status: int = 200, **ctx: object) -> Response:
    return render(
        request,
        "cycles/phase.html",
        status,
        title=f"Move the {c.cycle} cycle on",
        c=c,
        phases=forward_phases(c.phase),
        **ctx,
    )


async def _organisations(reporting: ReportingApi, token: str, cycle: str) -> dict[str, int] | None:
    """The cycle's organisations and how many have signed off (reporting), if it answers."""
    try:
        page = await reporting.participation(token, cycle, {"per_page": 1})
    except (ApiError, ServiceUnavailable):
        return None
    return dict(page.summary)


@router.get("/national/cycles/{cycle}/phase")
async def phase_page(
    request: Request, cycle: str, session: National, api: Questionnaires
) -> Response:
    return _phase_form(request, await api.cycle(session.token, cycle), values={})


@router.post("/national/cycles/{cycle}/phase")
async def move_phase(
    request: Request,
    cycle: str,
    session: National,
    api: Questionnaires,
    reporting: Reporting,
) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    phase, reason = text(form, "phase"), text(form, "reason")
    c = await api.cycle(session.token, cycle)
    offered = {value: label for value, label, _ in forward_phases(c.phase)}
    if not phase:
        errors.add("phase", "Select the phase to move the cycle to")
    elif phase not in offered:
        errors.add("phase", "Select a phase after the one the cycle is in")
    if not reason:
        errors.add("reason", "Enter why the cycle is moving ahead of its timetable")
    if not errors and text(form, "confirm") != "yes":
        return render(
            request,
            "cycles/phase_confirm.html",
            title=f"Move {cycle} to {offered[phase]}?",
            c=c,
            phase=phase,
            phase_label=offered[phase],
            reason=reason,
            consequence=CONSEQUENCES.get(phase, ""),
            organisations=await _organisations(reporting, session.token, cycle),
        )
    if not errors:
        try:
            await api.move_phase(session.token, cycle, phase, reason)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, _CYCLE_FIELDS, fallback="phase")
        else:
            return RedirectResponse(f"/national/cycles/{cycle}?done=phase", 303)
    return _phase_form(request, c, 422, errors=errors, values=values(form))
