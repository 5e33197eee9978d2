"""Signing the return off: what is being signed, said plainly, then a confirmation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...application.models import QuestionnaireSummary, ReturnStatus
from ...application.ports import QuestionnaireApi
from ...application.returns import live
from .answering import form_of
from .deps import Questionnaires
from .rendering import FormErrors, render
from .session import Lead, Session

router = APIRouter(default_response_class=HTMLResponse)


async def _what(
    api: QuestionnaireApi, session: Session, cycle: str
) -> tuple[ReturnStatus, list[QuestionnaireSummary]]:
    status = await api.return_status(session.token, cycle, str(session.organisation_id))
    return status, live(await api.questionnaires(session.token, cycle))


@router.get("/returns/{cycle}/sign-off")
async def confirm_page(
    request: Request, cycle: str, session: Lead, api: Questionnaires
) -> Response:
    status, questionnaires = await _what(api, session, cycle)
    return render(
        request,
        "sign_off/confirm.html",
        title="Sign off your return",
        cycle=cycle,
        status=status,
        questionnaires=questionnaires,
    )


@router.post("/returns/{cycle}/sign-off")
async def sign_off(request: Request, cycle: str, session: Lead, api: Questionnaires) -> Response:
    form = await form_of(request)
    if form.get("confirm") != "yes":
        errors = FormErrors()
        errors.add("confirm", "Confirm that you have checked the return and it is complete")
        status, questionnaires = await _what(api, session, cycle)
        return render(
            request,
            "sign_off/confirm.html",
            422,
            title="Sign off your return",
            cycle=cycle,
            errors=errors,
            status=status,
            questionnaires=questionnaires,
        )
    signed = await api.sign_off(session.token, cycle, session.organisation_id)
    return render(
        request, "sign_off/done.html", title="Return signed off", cycle=cycle, signed=signed
    )
