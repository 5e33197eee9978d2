"""The lead's dashboard: the cycle's phase and deadline, and what is owed and done, per
questionnaire and service group. And the landing pages made for regulators and auditors:
what each can do here, with links only to what opens for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from csm_contracts.auth import Role

from ...application.permissions import may_sign_off
from ...application.ports import RegistrationApi
from ...application.report_catalogue import offers
from ...application.report_cells import shown
from ...application.returns import by_group, current_cycle, tally
from .deps import Questionnaires, Registration, Reporting
from .rendering import render
from .session import Lead, Session, role_session

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


#: The reports each reader's page puts first (when the reporting service lets them open it).
FIRST_FOR = {
    "regulator": ("cqc-performance", "self-assessment-scorecards", "annual-report"),
    "auditor": ("data-quality", "cycle-progress", "return-progress", "organisations"),
}
Regulator = Annotated[Session, role_session(Role.REGULATOR)]
Auditor = Annotated[Session, role_session(Role.AUDITOR)]


async def _reader_home(
    request: Request, session: Session, api: Questionnaires, reporting: Reporting, who: str
) -> Response:
    cycles = await api.cycles(session.token)
    cycle = current_cycle(cycles)
    catalogue = offers(await reporting.reports(session.token), cycle, session.organisation_id)
    found = {o.name: o for _, group in catalogue.groups for o in group}
    first = [found[name] for name in FIRST_FOR[who] if name in found]
    return render(
        request,
        f"dashboard/{who}.html",
        title="Regulator" if who == "regulator" else "Auditor",
        cycles=cycles,
        cycle=cycle,
        first=first,
        more=len(found) - len(first),
        shown=shown,
    )


@router.get("/regulator")
async def regulator_home(
    request: Request, session: Regulator, api: Questionnaires, reporting: Reporting
) -> Response:
    """What a regulator (the Care Quality Commission) does here: the NI 51 performance data
    signed off by the deadline, the scorecards and the national figures."""
    return await _reader_home(request, session, api, reporting, "regulator")


@router.get("/auditor")
async def auditor_home(
    request: Request, session: Auditor, api: Questionnaires, reporting: Reporting
) -> Response:
    """What an auditor does here: the data-quality checks, participation, and how to replay
    and verify the event history."""
    return await _reader_home(request, session, api, reporting, "auditor")
