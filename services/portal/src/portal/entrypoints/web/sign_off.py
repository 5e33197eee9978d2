"""Signing the return off: what is being signed, said plainly, then a confirmation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .answering import form_of
from .rendering import FormErrors, render
from .session import Lead, Session

router = APIRouter()


async def _what(request: Request, session: Session, cycle: str) -> dict[str, Any]:
    api = request.app.state.portal.apis.questionnaire
    status = await api.get(
        f"/cycles/{cycle}/returns/{session.organisation_id}", token=session.token
    )
    owed = await api.get("/questionnaires", token=session.token, params={"cycle": cycle})
    return {"status": status, "questionnaires": [q for q in owed if q["status"] != "cancelled"]}


@router.get("/returns/{cycle}/sign-off")
async def confirm_page(request: Request, cycle: str, session: Lead) -> Response:
    return render(
        request,
        "sign_off/confirm.html",
        title="Sign off your return",
        cycle=cycle,
        **await _what(request, session, cycle),
    )


@router.post("/returns/{cycle}/sign-off")
async def sign_off(request: Request, cycle: str, session: Lead) -> Response:
    form = await form_of(request)
    if form.get("confirm") != "yes":
        errors = FormErrors()
        errors.add("confirm", "Confirm that you have checked the return and it is complete")
        return render(
            request,
            "sign_off/confirm.html",
            422,
            title="Sign off your return",
            cycle=cycle,
            errors=errors,
            **await _what(request, session, cycle),
        )
    api = request.app.state.portal.apis.questionnaire
    signed = await api.post(
        f"/cycles/{cycle}/returns/{session.organisation_id}/sign-off",
        token=session.token,
        json={"confirm": True},
    )
    return render(
        request, "sign_off/done.html", title="Return signed off", cycle=cycle, signed=signed
    )
