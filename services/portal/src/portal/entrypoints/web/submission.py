"""A questionnaire after it is submitted: take the submission back to change it (before the
return is signed off, with a reason), and every change made to it (who, when, old → new)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.history import history_rows
from ...application.models import QuestionnaireView
from ...application.ports import Access, QuestionnaireApi
from .deps import Questionnaires
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .session import HistoryReader, Lead, Session

router = APIRouter(default_response_class=HTMLResponse)


async def _view(api: QuestionnaireApi, session: Session, qid: str) -> QuestionnaireView:
    return await api.view(Access(token=session.token), qid)


@router.get("/questionnaires/{questionnaire_id}/history")
async def history(
    request: Request, questionnaire_id: str, session: HistoryReader, api: Questionnaires
) -> Response:
    view = await _view(api, session, questionnaire_id)
    rows = history_rows(view, await api.history(session.token, questionnaire_id))
    return render(
        request,
        "questionnaires/history.html",
        title=f"History: {view['title']}",
        view=view,
        rows=rows,
        width="full",
    )


def _form(request: Request, view: QuestionnaireView, status: int = 200, **ctx: object) -> Response:
    return render(
        request,
        "questionnaires/withdraw.html",
        status,
        title="Take back this submission",
        view=view,
        **ctx,
    )


@router.get("/questionnaires/{questionnaire_id}/withdraw-submission")
async def withdraw_page(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    return _form(request, await _view(api, session, questionnaire_id), values={})


@router.post("/questionnaires/{questionnaire_id}/withdraw-submission")
async def withdraw(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    reason = text(form, "reason")
    if not reason:
        errors.add("reason", "Enter why the submission is being taken back")
    else:
        try:
            await api.withdraw_submission(session.token, questionnaire_id, reason)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, {"reason": ("reason", "Reason")}, fallback="reason")
        else:
            return RedirectResponse(f"/questionnaires/{questionnaire_id}?done=withdrawn", 303)
    view = await _view(api, session, questionnaire_id)
    return _form(request, view, 422, errors=errors, values=values(form))
