"""A questionnaire after it is submitted: take the submission back to change it (before the
return is signed off, with a reason), and every change made to it (who, when, old → new)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...adapters.api import ApiError
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .session import Lead, Session

router = APIRouter()

#: History entry fields shown as they are (the changes are shown question by question).
_SHOWN = ("reason", "comment", "delegate_email", "submitted_by", "signed_off_by", "definition")


async def _view(request: Request, session: Session, qid: str) -> dict[str, Any]:
    view: dict[str, Any] = await request.app.state.portal.apis.questionnaire.get(
        f"/questionnaires/{qid}", token=session.token
    )
    return view


def _questions(view: dict[str, Any]) -> dict[str, str]:
    return {q["id"]: q["text"] for s in view.get("sections", []) for q in s.get("questions", [])}


@router.get("/questionnaires/{questionnaire_id}/history")
async def history(request: Request, questionnaire_id: str, session: Lead) -> Response:
    view = await _view(request, session, questionnaire_id)
    entries = await request.app.state.portal.apis.questionnaire.get(
        f"/questionnaires/{questionnaire_id}/history", token=session.token
    )
    texts = _questions(view)
    rows = [
        {
            **e,
            "changes": [
                {**c, "text": texts.get(c.get("question"), c.get("question"))}
                for c in e.get("changes") or []
            ],
            "details": [(k.replace("_", " ").capitalize(), e[k]) for k in _SHOWN if e.get(k)],
        }
        for e in entries
    ]
    return render(
        request,
        "questionnaires/history.html",
        title=f"History: {view['title']}",
        view=view,
        rows=rows,
        width="full",
    )


def _form(request: Request, view: dict[str, Any], status: int = 200, **ctx: Any) -> Response:
    return render(
        request,
        "questionnaires/withdraw.html",
        status,
        title="Take back this submission",
        view=view,
        **ctx,
    )


@router.get("/questionnaires/{questionnaire_id}/withdraw-submission")
async def withdraw_page(request: Request, questionnaire_id: str, session: Lead) -> Response:
    return _form(request, await _view(request, session, questionnaire_id), values={})


@router.post("/questionnaires/{questionnaire_id}/withdraw-submission")
async def withdraw(request: Request, questionnaire_id: str, session: Lead) -> Response:
    form = await form_of(request)
    errors = FormErrors()
    reason = text(form, "reason")
    if not reason:
        errors.add("reason", "Enter why the submission is being taken back")
    else:
        try:
            await request.app.state.portal.apis.questionnaire.post(
                f"/questionnaires/{questionnaire_id}/withdraw-submission",
                token=session.token,
                json={"reason": reason},
            )
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, {"reason": ("reason", "Reason")}, fallback="reason")
        else:
            return RedirectResponse(f"/questionnaires/{questionnaire_id}?done=withdrawn", 303)
    view = await _view(request, session, questionnaire_id)
    return _form(request, view, 422, errors=errors, values=values(form))
