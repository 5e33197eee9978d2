"""A questionnaire after it is submitted: take the submission back to change it (before the
return is signed off, with a reason), and every change made to it (who, when, old → new)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from ...application.dates import gov_datetime
from ...application.errors import ApiError
from ...application.history import history_rows
from ...application.models import Delegation, JsonObject, QuestionnaireView
from ...application.ports import Access, QuestionnaireApi, RegistrationApi
from .deps import Questionnaires, Registration
from .forms import form_of, text, values
from .people import names_of
from .rendering import FormErrors, render
from .session import HistoryReader, Lead, Session

router = APIRouter(default_response_class=HTMLResponse)


async def _view(api: QuestionnaireApi, session: Session, qid: str) -> QuestionnaireView:
    return await api.view(Access(token=session.token), qid)


async def _names(
    api: QuestionnaireApi,
    registration: RegistrationApi,
    session: Session,
    view: QuestionnaireView,
    entries: list[JsonObject],
) -> dict[str, str]:
    """Who the history's actors are: accounts as registration names them to this reader (the
    national team and auditors everyone; a lead their own organisation's, and where anyone
    else belongs), delegates by their link's email."""
    delegations: list[Delegation] = []
    try:
        delegations = await api.delegations(session.token, view["id"])
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
    return await names_of(registration, session, entries, delegations)


async def _organisation_name(
    registration: RegistrationApi, session: Session, view: QuestionnaireView
) -> dict[str, str]:
    """The questionnaire's organisation by name, for a reader from elsewhere (the national
    team, an auditor); a lead's own is on their session already."""
    code = str(view.get("organisation_id") or "")
    if not code or code == session.organisation_id:
        return {}
    try:
        found = await registration.organisation(session.token, code)
    except ApiError:
        return {}
    return {code: found.name} if found.name else {}


@router.get("/questionnaires/{questionnaire_id}/history")
async def history(
    request: Request,
    questionnaire_id: str,
    session: HistoryReader,
    api: Questionnaires,
    registration: Registration,
) -> Response:
    view = await _view(api, session, questionnaire_id)
    entries = await api.history(session.token, questionnaire_id)
    names = await _names(api, registration, session, view, entries)
    rows = history_rows(view, entries, names)
    return render(
        request,
        "questionnaires/history.html",
        organisation_names=await _organisation_name(registration, session, view),
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


def _unsettled(view: QuestionnaireView) -> QuestionnaireView:
    """The questionnaire, unless its return is signed off (409 saying why and who can reopen
    it): the questionnaire service refuses to take a submission back then."""
    when = view.get("signed_off_at")
    if when:
        raise HTTPException(
            409,
            f"The {view['cycle']} return was signed off on {gov_datetime(when)}, so this "
            "submission cannot be taken back. If something needs changing, ask the national "
            "mapping team to reopen the return.",
        )
    return view


@router.get("/questionnaires/{questionnaire_id}/withdraw-submission")
async def withdraw_page(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    view = _unsettled(await _view(api, session, questionnaire_id))
    return _form(request, view, values={})


@router.post("/questionnaires/{questionnaire_id}/withdraw-submission")
async def withdraw(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    form = await form_of(request)
    _unsettled(await _view(api, session, questionnaire_id))
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
