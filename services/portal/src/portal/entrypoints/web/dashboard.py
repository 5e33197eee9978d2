"""The lead's dashboard: the cycle's phase and deadline, and what is owed and done, per
questionnaire and service group."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...application.numbers import whole_number
from .rendering import render
from .session import Lead, Session

router = APIRouter()

#: Which cycle a lead most likely means, best first.
PHASE_ORDER = ("data-entry", "summary-reports", "sandbox", "closed", "published", "scheduled")


def current_cycle(cycles: list[dict[str, Any]]) -> str | None:
    """The cycle in data entry if any, else the latest one."""
    if not cycles:
        return None
    ranked = sorted(
        cycles,
        key=lambda c: (
            PHASE_ORDER.index(c["phase"]) if c["phase"] in PHASE_ORDER else 9,
            -_year(c),
        ),
    )
    return str(ranked[0]["cycle"])


def _year(c: dict[str, Any]) -> int:
    head = str(c.get("cycle", "0"))[:4]
    return whole_number(head) or 0


@router.get("/dashboard")
async def dashboard(request: Request, session: Lead) -> Response:
    api = request.app.state.portal.apis.questionnaire
    cycles = await api.get("/cycles", token=session.token)
    cycle = current_cycle(cycles)
    if cycle is None:
        return render(request, "dashboard/no_cycle.html", title="Your return")
    return RedirectResponse(f"/returns/{cycle}", status_code=303)


async def groups_of(request: Request, session: Session) -> dict[str, str]:
    """Service group names by id (empty when the organisation has none)."""
    if not session.organisation_id:
        return {}
    groups = await request.app.state.portal.apis.registration.get(
        f"/organisations/{session.organisation_id}/groups", token=session.token
    )
    return {g["group_id"]: g["name"] for g in groups}


@router.get("/returns/{cycle}")
async def return_page(
    request: Request, cycle: str, session: Lead, done: str | None = None
) -> Response:
    api = request.app.state.portal.apis.questionnaire
    org = session.organisation_id
    status = await api.get(f"/cycles/{cycle}/returns/{org}", token=session.token)
    owed = await api.get("/questionnaires", token=session.token, params={"cycle": cycle})
    names = await groups_of(request, session)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for q in sorted(owed, key=lambda q: (q.get("group_id") or "", q["title"])):
        if q["status"] == "cancelled":
            continue
        label = names.get(q["group_id"], q["group_id"]) if q.get("group_id") else "Organisation"
        grouped.setdefault(label, []).append(q)
    cycles = await api.get("/cycles", token=session.token)
    return render(
        request,
        "dashboard/return.html",
        title=f"Your {cycle} return",
        cycle=cycle,
        status=status,
        grouped=grouped,
        cycles=cycles,
        done=done,
        width="full",
    )
