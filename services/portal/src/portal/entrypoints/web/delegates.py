"""The delegate's own view, opened from the emailed link (no account).

The link's token goes to the questionnaire service as `X-Delegate-Token` and opens one
questionnaire only; it lives in this page's path (as in the email), never in a cookie, so a
delegate with links for two questionnaires can have both open."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from ...application.answers import form_values
from ...application.ports import Access, QuestionnaireApi
from .answering import Outcome, Target, form_of, preview, questionnaire_page, save_form
from .deps import Questionnaires
from .forms import text
from .rendering import FormErrors, render

router = APIRouter(default_response_class=HTMLResponse)


async def _target(api: QuestionnaireApi, token: str) -> Target:
    if not token.isascii() or not token.isprintable():
        # No link we send looks like this, and a header cannot carry it as it is.
        raise HTTPException(404)
    return Target(api, await api.opened_by(token), Access(delegate_token=token))


def _page(
    request: Request, token: str, outcome: Outcome, status: int = 200, **ctx: object
) -> Response:
    return questionnaire_page(
        request, outcome, status, action=f"/delegate/{token}", delegate_token=token, **ctx
    )


@router.get("/delegate/{token}")
async def page(
    request: Request, token: str, api: Questionnaires, done: str | None = None
) -> Response:
    view = await (await _target(api, token)).view()
    return _page(request, token, Outcome(view, form_values(view), FormErrors(), False), done=done)


@router.post("/delegate/{token}/preview")
async def what_if(request: Request, token: str, api: Questionnaires) -> Response:
    outcome = await preview(await _target(api, token), await form_of(request))
    return render(
        request,
        "questionnaires/_questions.html",
        view=outcome.view,
        fv=outcome.values,
        editable=outcome.view.get("can_edit"),
        preview_url=f"/delegate/{token}/preview",
    )


@router.post("/delegate/{token}")
async def save(request: Request, token: str, api: Questionnaires) -> Response:
    outcome = await save_form(await _target(api, token), await form_of(request))
    if not outcome.saved:
        return _page(request, token, outcome, 422)
    return RedirectResponse(f"/delegate/{token}?done=saved", 303)


@router.post("/delegate/{token}/return")
async def return_to_lead(request: Request, token: str, api: Questionnaires) -> Response:
    form = await form_of(request)
    target = await _target(api, token)
    view = await api.return_to_lead(token, target.questionnaire_id, text(form, "comment") or None)
    return render(request, "delegates/returned.html", title="Questionnaire returned", view=view)
