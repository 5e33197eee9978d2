"""The lead's questionnaire page: answer, see follow-ups appear, save, submit; and delegate.

Without JavaScript, "Save and continue" saves and shows the page again with any follow-up
questions the new answers bring. With JavaScript, htmx posts the form to `/preview` on every
change and swaps in the questions the answers now show (nothing is saved until a button)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...adapters.api import ApiError
from ...application.answers import form_values
from .answering import (
    Outcome,
    Target,
    form_of,
    preview,
    question_errors,
    questionnaire_page,
    save_form,
)
from .forms import text
from .rendering import FormErrors, render
from .session import Lead, Session

router = APIRouter()


def _target(request: Request, session: Session, questionnaire_id: str) -> Target:
    api = request.app.state.portal.apis.questionnaire
    return Target(api, questionnaire_id, token=session.token)


def _page(request: Request, outcome: Outcome, status: int = 200, **ctx: Any) -> Response:
    action = f"/questionnaires/{outcome.view['id']}"
    return questionnaire_page(request, outcome, status, action=action, **ctx)


@router.get("/questionnaires/{questionnaire_id}")
async def page(
    request: Request, questionnaire_id: str, session: Lead, done: str | None = None
) -> Response:
    view = await _target(request, session, questionnaire_id).view()
    return _page(request, Outcome(view, form_values(view), FormErrors(), False), done=done)


@router.post("/questionnaires/{questionnaire_id}/preview")
async def what_if(request: Request, questionnaire_id: str, session: Lead) -> Response:
    outcome = await preview(_target(request, session, questionnaire_id), await form_of(request))
    return render(
        request,
        "questionnaires/_questions.html",
        view=outcome.view,
        fv=outcome.values,
        editable=outcome.view.get("can_edit"),
        preview_url=f"/questionnaires/{questionnaire_id}/preview",
    )


@router.post("/questionnaires/{questionnaire_id}")
async def save(request: Request, questionnaire_id: str, session: Lead) -> Response:
    form = await form_of(request)
    target = _target(request, session, questionnaire_id)
    outcome = await save_form(target, form)
    if not outcome.saved:
        return _page(request, outcome, 422)
    action = text(form, "action")
    if action == "submit":
        try:
            await target.api.post(f"{target.base}/submit", token=session.token)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = question_errors(exc, outcome.view)
            return _page(
                request,
                Outcome(outcome.view, outcome.values, errors, False),
                422,
                submit_failed=True,
            )
        return RedirectResponse(f"/returns/{outcome.view['cycle']}?done=submitted", 303)
    if action == "draft":
        return RedirectResponse(f"/returns/{outcome.view['cycle']}?done=saved", 303)
    return RedirectResponse(f"/questionnaires/{questionnaire_id}?done=saved", 303)


# --- delegating ---------------------------------------------------------------------------


async def _delegations(request: Request, session: Session, qid: str) -> list[dict[str, Any]]:
    api = request.app.state.portal.apis.questionnaire
    rows: list[dict[str, Any]] = await api.get(
        f"/questionnaires/{qid}/delegations", token=session.token
    )
    return rows


@router.get("/questionnaires/{questionnaire_id}/delegate")
async def delegate_page(
    request: Request, questionnaire_id: str, session: Lead, done: str | None = None
) -> Response:
    view = await _target(request, session, questionnaire_id).view()
    return render(
        request,
        "questionnaires/delegate.html",
        title="Delegate this questionnaire",
        view=view,
        delegations=await _delegations(request, session, questionnaire_id),
        values={},
        done=done,
    )


@router.post("/questionnaires/{questionnaire_id}/delegate")
async def delegate(request: Request, questionnaire_id: str, session: Lead) -> Response:
    form = await form_of(request)
    email, message = text(form, "email"), text(form, "message")
    target = _target(request, session, questionnaire_id)
    errors = FormErrors()
    if not email:
        errors.add("email", "Enter the email address of the person to complete it")
    else:
        try:
            await target.api.post(
                f"{target.base}/delegations",
                token=session.token,
                json={"email": email, "message": message or None},
            )
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            fields = {"email": ("email", "Email address"), "message": ("message", "Message")}
            errors = FormErrors.from_api(exc, fields, fallback="email")
        else:
            return RedirectResponse(f"/questionnaires/{questionnaire_id}/delegate?done=sent", 303)
    view = await target.view()
    return render(
        request,
        "questionnaires/delegate.html",
        422,
        title="Delegate this questionnaire",
        view=view,
        errors=errors,
        delegations=await _delegations(request, session, questionnaire_id),
        values={"email": email, "message": message},
    )


@router.post("/questionnaires/{questionnaire_id}/delegations/{delegation_id}/{act}")
async def act_on_delegation(
    request: Request, questionnaire_id: str, delegation_id: str, act: str, session: Lead
) -> Response:
    """Revoke the link, accept what came back, or send it back with a comment."""
    form = await form_of(request)
    target = _target(request, session, questionnaire_id)
    path = f"{target.base}/delegations/{delegation_id}/{act}"
    if act == "revoke":
        body: dict[str, Any] | None = {"reason": text(form, "reason") or None}
    elif act == "send-back":
        body = {"comment": text(form, "comment") or "Please look at this again"}
    elif act == "accept":
        body = None
    else:
        return render(request, "errors/not_found.html", 404)
    await target.api.post(path, token=session.token, json=body)
    done = {"revoke": "revoked", "accept": "accepted", "send-back": "sent-back"}[act]
    return RedirectResponse(f"/questionnaires/{questionnaire_id}?done={done}", 303)
