"""The lead's dashboard: the cycle's phase and deadline, and what is owed and done, per
questionnaire and service group."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.permissions import may_sign_off
from ...application.ports import RegistrationApi
from ...application.returns import by_group, current_cycle, tally
from .deps import Questionnaires, Registration
from .rendering import render
from .session import Lead, Session

router = APIRouter(default_response_class=HTMLResponse)


@router.get("/dashboard")
async def dashboard(request: Request, session: Lead, api: Questionnaires) -> Response:
    cycle = current_cycle(await api.cycles(session.token))
    if cycle is None:
        return render(request, "dashboard/no_cycle.html", title="Your return")
    return RedirectResponse(f"/returns/{cycle}", status_code=303)


async def groups_of(registration: RegistrationApi, session: Session) -> dict[str, str]:
    """Service group names by id (empty when the organisation has none)."""
    if not session.organisation_id:
        return {}
    groups = await registration.groups(session.token, session.organisation_id)
    return {g.group_id: g.name for g in groups}


@router.get("/returns/{cycle}")
async def return_page(
    request: Request,
    cycle: str,
    session: Lead,
    api: Questionnaires,
    registration: Registration,
    done: str | None = None,
) -> Response:
    status = await api.return_status(session.token, cycle, str(session.organisation_id))
    owed = await api.questionnaires(session.token, cycle)
    grouped = by_group(owed, await groups_of(registration, session))
    cycles = await api.cycles(session.token)
    return render(
        request,
        "dashboard/return.html",
        title=f"Your {cycle} return",
        cycle=cycle,
        status=status,
        can_sign_off=may_sign_off(session.principal, status),
        grouped=grouped,
        counts=tally(owed),
        cycles=cycles,
        done=done,
        width="full",
    )
