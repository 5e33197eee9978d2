"""The lead's questionnaire pages: answer (a long questionnaire a section at a time, from an
overview with each section's progress), see follow-ups appear, save, check the answers, submit;
delegate; print one questionnaire or the whole return.

Without JavaScript, "Save and continue" saves and shows the page again when the new answers
bring follow-up questions onto it, else goes on. With JavaScript, htmx posts the form to
`/preview` when an answer others depend on changes and swaps in the questions the answers now
show (nothing is saved until a button)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.answers import form_values, overlay, stored_answers
from ...application.delegations import delegation_act
from ...application.errors import ApiError
from ...application.models import QuestionnaireView
from ...application.ports import Access, QuestionnaireApi, RegistrationApi
from ...application.prefill import from_record, with_answers
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
    problems,
    question_errors,
    questionnaire_page,
    questions_part,
    save_form,
)
from .deps import Questionnaires, Registration
from .forms import text
from .last_year import brought_in_notice, offer_for
from .rendering import FormErrors, render
from .session import Lead, Session

router = APIRouter(default_response_class=HTMLResponse)


def _target(api: QuestionnaireApi, session: Session, questionnaire_id: str) -> Target:
    return Target(api, questionnaire_id, Access(token=session.token))


def _place(questionnaire_id: str) -> Place:
    return Place(f"/questionnaires/{questionnaire_id}")


async def _prefilled(
    target: Target, registration: RegistrationApi, session: Session, view: QuestionnaireView
) -> tuple[Outcome, list[str]]:
    """The page's answers, with those the service record already holds filled in (not
    saved), and the questions so filled."""
    subject = view.get("subject") or {}
    found: dict[str, object] = {}
    if subject.get("kind") == "service" and subject.get("id") and view.get("can_edit"):
        try:
            record = await registration.service(session.token, str(subject["id"]))
        except ApiError:
            record = None  # no record to read: nothing is filled in
        if record is not None:
            found = from_record(view, record)
    if not found:
        return Outcome(view, form_values(view), FormErrors(), False), []
    rendered = await target.what_if(view, {**stored_answers(view), **found})
    shown = overlay(with_answers(view, found), rendered)
    return Outcome(shown, form_values(shown), FormErrors(), False), list(found)


@router.get("/questionnaires/{questionnaire_id}")
async def page(
    request: Request,
    questionnaire_id: str,
    session: Lead,
    api: Questionnaires,
    registration: Registration,
    done: str | None = None,
    count: str | None = None,
    cycle: str | None = None,
) -> Response:
    target = _target(api, session, questionnaire_id)
    view = await target.view()
    # A carried-forward service's questionnaire offers last year's answers (the person
    # chooses, on a page of its own); after bringing them in, says how many came.
    last_year = await offer_for(api, session.token, view)
    brought_in = brought_in_notice(done, count, cycle)
    place = _place(questionnaire_id)
    if is_long(view):
        outcome = Outcome(view, form_values(view), FormErrors(), False)
        return questionnaire_page(
            request, place, outcome, done=done, last_year=last_year, brought_in=brought_in
        )
    outcome, filled = await _prefilled(target, registration, session, view)
    return questionnaire_page(
        request,
        place,
        outcome,
        done=done,
        prefilled=filled,
        last_year=last_year,
        brought_in=brought_in,
    )


@router.get("/questionnaires/{questionnaire_id}/sections/{section_id}")
async def section_page(
    request: Request,
    questionnaire_id: str,
    section_id: str,
    session: Lead,
    api: Questionnaires,
    registration: Registration,
    done: str | None = None,
) -> Response:
    target = _target(api, session, questionnaire_id)
    view = await target.view()
    if section_of(view, section_id) is None:
        return render(request, "errors/not_found.html", 404)
    outcome, filled = await _prefilled(target, registration, session, view)
    return questionnaire_page(
        request,
        _place(questionnaire_id),
        outcome,
        section=section_id,
        done=done,
        prefilled=filled,
    )


@router.post("/questionnaires/{questionnaire_id}/preview")
async def what_if(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    form = await form_of(request)
    outcome = await preview(_target(api, session, questionnaire_id), form)
    return questions_part(request, _place(questionnaire_id), outcome, posted_section(form))


@router.get("/questionnaires/{questionnaire_id}/check")
async def check(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    view = await _target(api, session, questionnaire_id).view()
    return check_page(request, _place(questionnaire_id), view)


@router.get("/questionnaires/{questionnaire_id}/print")
async def print_one(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    view = await _target(api, session, questionnaire_id).view()
    return print_page(request, [view], view["title"], f"/questionnaires/{questionnaire_id}")


@router.post("/questionnaires/{questionnaire_id}")
async def save(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    return await _save_then(request, questionnaire_id, None, session, api)


@router.post("/questionnaires/{questionnaire_id}/sections/{section_id}")
async def save_section(
    request: Request, questionnaire_id: str, section_id: str, session: Lead, api: Questionnaires
) -> Response:
    return await _save_then(request, questionnaire_id, section_id, session, api)


async def _save_then(
    request: Request,
    questionnaire_id: str,
    section: str | None,
    session: Session,
    api: QuestionnaireApi,
) -> Response:
    """Save what the page holds, then do what its button says."""
    form = await form_of(request)
    place = _place(questionnaire_id)
    outcome = await save_form(_target(api, session, questionnaire_id), form)
    if not outcome.saved:
        return questionnaire_page(request, place, outcome, 422, section=section)
    view = outcome.view
    action = text(form, "action")
    if action == "submit":
        try:
            await api.submit(session.token, questionnaire_id)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = question_errors(exc, view)
            if not outcome.posted:  # from "check your answers"
                return check_page(request, place, view, 422, problems=problems(errors, view, place))
            failed = Outcome(view, outcome.values, errors, False, outcome.posted)
            return questionnaire_page(
                request, place, failed, 422, section=section, submit_failed=True
            )
        return RedirectResponse(f"/returns/{view['cycle']}?done=submitted", 303)
    if action == "draft":
        if is_long(view):
            return RedirectResponse(f"{place.base}?done=saved", 303)
        return RedirectResponse(f"/returns/{view['cycle']}?done=saved", 303)
    if action == "check":
        return RedirectResponse(f"{place.base}/check", 303)
    if action == "delegate":
        return RedirectResponse(f"{place.base}/delegate", 303)
    if action in ("accept", "send-back"):
        delegation = view.get("delegation") or {}
        decided = delegation_act(action, reason="", comment=text(form, "send_back_comment"))
        if decided is None or not delegation.get("id"):
            return RedirectResponse(place.base, 303)
        await api.act_on_delegation(
            session.token, questionnaire_id, str(delegation["id"]), action, decided.body
        )
        return RedirectResponse(f"{place.base}?done={decided.done}", 303)
    return RedirectResponse(onward(place, outcome, section), 303)


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


@router.get("/returns/{cycle}/print")
async def print_return(
    request: Request, cycle: str, session: Lead, api: Questionnaires
) -> Response:
    """Every questionnaire of the return, to print (people who sign off on paper first)."""
    owed = [q for q in await api.questionnaires(session.token, cycle) if q.status != "cancelled"]
    views = [await _target(api, session, q.id).view() for q in owed]
    return print_page(request, views, f"Your return for {cycle}", f"/returns/{cycle}")
