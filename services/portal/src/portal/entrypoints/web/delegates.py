"""The delegate's own view, opened from the emailed link (no account).

The link's token goes to the questionnaire service as `X-Delegate-Token` and opens one
questionnaire only; it lives in this page's path (as in the email), never in a cookie, so a
delegate with links for two questionnaires can have both open.

"Return to the mapping lead" is a button of the form with the answers: what is on the page is
saved first (a refused answer stops the return). A return while a cross-field rule is not met
shows the rules' messages on "check your answers" first; returning from there goes ahead."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from ...application.answers import form_values
from ...application.ports import Access, QuestionnaireApi
from ...application.sections import is_long, section_of
from .answering import (
    Outcome,
    Place,
    Target,
    check_page,
    form_of,
    onward,
    posted_section,
    preview,
    print_page,
    questionnaire_page,
    questions_part,
    save_form,
)
from .deps import Questionnaires
from .forms import text
from .rendering import FormErrors, render

router = APIRouter(default_response_class=HTMLResponse)


async def _target(api: QuestionnaireApi, token: str) -> Target:
    if not token.isascii() or not token.isprintable():
        # No link we send looks like this, and a header cannot carry it as it is.
        raise HTTPException(404)
    return Target(api, await api.opened_by(token), Access(delegate_token=token))


def _place(token: str) -> Place:
    return Place(f"/delegate/{token}", delegate_token=token)


@router.get("/delegate/{token}")
async def page(
    request: Request, token: str, api: Questionnaires, done: str | None = None
) -> Response:
    view = await (await _target(api, token)).view()
    outcome = Outcome(view, form_values(view), FormErrors(), False)
    return questionnaire_page(request, _place(token), outcome, done=done)


@router.get("/delegate/{token}/sections/{section_id}")
async def section_page(
    request: Request, token: str, section_id: str, api: Questionnaires, done: str | None = None
) -> Response:
    view = await (await _target(api, token)).view()
    if section_of(view, section_id) is None:
        return render(request, "errors/not_found.html", 404, hide_account=True)
    outcome = Outcome(view, form_values(view), FormErrors(), False)
    return questionnaire_page(request, _place(token), outcome, section=section_id, done=done)


@router.post("/delegate/{token}/preview")
async def what_if(request: Request, token: str, api: Questionnaires) -> Response:
    form = await form_of(request)
    outcome = await preview(await _target(api, token), form)
    return questions_part(request, _place(token), outcome, posted_section(form))


@router.get("/delegate/{token}/check")
async def check(request: Request, token: str, api: Questionnaires) -> Response:
    view = await (await _target(api, token)).view()
    return check_page(request, _place(token), view, values={})


@router.get("/delegate/{token}/print")
async def print_one(request: Request, token: str, api: Questionnaires) -> Response:
    view = await (await _target(api, token)).view()
    return print_page(
        request,
        [view],
        view["title"],
        f"/delegate/{token}",
        delegate_token=token,
        hide_account=True,
    )


@router.post("/delegate/{token}")
async def save(request: Request, token: str, api: Questionnaires) -> Response:
    return await _save_then(request, token, None, api)


@router.post("/delegate/{token}/sections/{section_id}")
async def save_section(
    request: Request, token: str, section_id: str, api: Questionnaires
) -> Response:
    return await _save_then(request, token, section_id, api)


@router.post("/delegate/{token}/return")
async def return_to_lead(request: Request, token: str, api: Questionnaires) -> Response:
    """The return form of "check your answers" (and of older pages): nothing to save."""
    return await _save_then(request, token, None, api, returning=True)


async def _save_then(
    request: Request,
    token: str,
    section: str | None,
    api: QuestionnaireApi,
    *,
    returning: bool = False,
) -> Response:
    form = await form_of(request)
    place = _place(token)
    target = await _target(api, token)
    outcome = await save_form(target, form)
    if not outcome.saved:
        return questionnaire_page(request, place, outcome, 422, section=section)
    view = outcome.view
    action = "return" if returning else text(form, "action")
    if action == "return" and "comment" not in form:
        # From a section's page: saved; the return itself is confirmed on "check answers".
        return RedirectResponse(f"{place.base}/check", 303)
    if action == "return":
        comment = text(form, "comment")
        # Rules not met: the delegate sees their messages before the lead does.
        if view.get("warnings") and text(form, "checked") != "yes":
            return check_page(request, place, view, values={"comment": comment}, warned=True)
        returned = await api.return_to_lead(token, target.questionnaire_id, comment or None)
        return render(
            request,
            "delegates/returned.html",
            title="Questionnaire returned",
            view=returned,
            hide_account=True,
            delegate_token=token,
        )
    if action == "draft":
        return RedirectResponse(f"{place.base}?done=saved", 303)
    if action == "check":
        return RedirectResponse(f"{place.base}/check", 303)
    if is_long(view) or action == "continue":
        return RedirectResponse(onward(place, outcome, section), 303)
    return RedirectResponse(f"{place.base}?done=saved", 303)
