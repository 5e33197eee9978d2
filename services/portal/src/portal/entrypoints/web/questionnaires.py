"""The lead's questionnaire page: answer, see follow-ups appear, save, submit; and delegate.

Without JavaScript, "Save and continue" saves and shows the page again with any follow-up
questions the new answers bring. With JavaScript, htmx posts the form to `/preview` on every
change and swaps in the questions the answers now show (nothing is saved until a button)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.answers import form_values
from ...application.delegations import delegation_act
from ...application.errors import ApiError
from ...application.ports import Access, QuestionnaireApi
from .answering import (
    Outcome,
    Target,
    form_of,
    preview,
    question_errors,
    questionnaire_page,
    save_form,
)
from .deps import Questionnaires
from .forms import text
from .rendering import FormErrors, render
from .session import Lead, Session

router = APIRouter(default_response_class=HTMLResponse)


def _target(api: QuestionnaireApi, session: Session, questionnaire_id: str) -> Target:
    return Target(api, questionnaire_id, Access(token=session.token))


def _page(request: Request, outcome: Outcome, status: int = 200, **ctx: object) -> Response:
    action = f"/questionnaires/{outcome.view['id']}"
    return questionnaire_page(request, outcome, status, action=action, **ctx)


@router.get("/questionnaires/{questionnaire_id}")
async def page(
    request: Request,
    questionnaire_id: str,
    session: Lead,
    api: Questionnaires,
    done: str | None = None,
) -> Response:
    view = await _target(api, session, questionnaire_id).view()
    return _page(request, Outcome(view, form_values(view), FormErrors(), False), done=done)


@router.post("/questionnaires/{questionnaire_id}/preview")
async def what_if(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    outcome = await preview(_target(api, session, questionnaire_id), await form_of(request))
    return render(
        request,
        "questionnaires/_questions.html",
        view=outcome.view,
        fv=outcome.values,
        editable=outcome.view.get("can_edit"),
        preview_url=f"/questionnaires/{questionnaire_id}/preview",
    )


@router.post("/questionnaires/{questionnaire_id}")
async def save(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    form = await form_of(request)
    target = _target(api, session, questionnaire_id)
    outcome = await save_form(target, form)
    if not outcome.saved:
        return _page(request, outcome, 422)
    action = text(form, "action")
    if action == "submit":
        try:
            await api.submit(session.token, questionnaire_id)
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


@router.get("/questionnaires/{questionnaire_id}/delegate")
async def delegate_page(
    request: Request,
    questionnaire_id: str,
    session: Lead,
    api: Questionnaires,
    done: str | None = None,
) -> Response:
    view = await _target(api, session, questionnaire_id).view()
    return render(
        request,
        "questionnaires/delegate.html",
        title="Delegate this questionnaire",
        view=view,
        delegations=await api.delegations(session.token, questionnaire_id),
        values={},
        done=done,
    )


@router.post("/questionnaires/{questionnaire_id}/delegate")
async def delegate(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    form = await form_of(request)
    email, message = text(form, "email"), text(form, "message")
    target = _target(api, session, questionnaire_id)
    errors = FormErrors()
    if not email:
        errors.add("email", "Enter the email address of the person to complete it")
    else:
        try:
            await api.delegate(session.token, questionnaire_id, email, message or None)
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
        delegations=await api.delegations(session.token, questionnaire_id),
        values={"email": email, "message": message},
    )


@router.post("/questionnaires/{questionnaire_id}/delegations/{delegation_id}/{act}")
async def act_on_delegation(
    request: Request,
    questionnaire_id: str,
    delegation_id: str,
    act: str,
    session: Lead,
    api: Questionnaires,
) -> Response:
    """Revoke the link, accept what came back, or send it back with a comment."""
    form = await form_of(request)
    decided = delegation_act(act, reason=text(form, "reason"), comment=text(form, "comment"))
    if decided is None:
        return render(request, "errors/not_found.html", 404)
    await api.act_on_delegation(session.token, questionnaire_id, delegation_id, act, decided.body)
    return RedirectResponse(f"/questionnaires/{questionnaire_id}?done={decided.done}", 303)
