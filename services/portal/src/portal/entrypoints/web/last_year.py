"""Bringing last year's answers into a carried-forward service's questionnaire: the page that
shows what would come in (and what would not, and why), where the person chooses, and doing it.

The questionnaire's own page offers it (`offer_for`); this page is a form of its own, so
nothing typed on the questionnaire's page is at stake. What comes in is saved at once (one
change in the history, "brought in from last year") for the person to check and change."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...application.errors import ApiError
from ...application.last_year import answers_phrase, offer_shown
from ...application.models import LastYearOffer, QuestionnaireView
from ...application.ports import Access, QuestionnaireApi
from .deps import Questionnaires
from .forms import form_of, text
from .rendering import FormErrors, render
from .session import Lead

router = APIRouter(default_response_class=HTMLResponse)

_CYCLE = re.compile(r"[0-9]{4}-[0-9]{2}")
#: A count or a version as the portal writes them (`isdigit` would let "²" through to `int`).
_WHOLE = re.compile(r"[0-9]{1,9}")


async def offer_for(
    api: QuestionnaireApi, token: str, view: QuestionnaireView
) -> LastYearOffer | None:
    """The offer a questionnaire's page shows: only for a service's questionnaire the caller
    may change, and only when there is something to bring in."""
    subject = view.get("subject") or {}
    if subject.get("kind") != "service" or not view.get("can_edit"):
        return None
    try:
        offer = await api.last_year(token, view["id"])
    except ApiError:
        return None  # an older questionnaire service, or not this caller's: no offer
    return offer if offer.available else None


def brought_in_notice(done: str | None, count: str | None, cycle: str | None) -> str | None:
    """The questionnaire page's banner after bringing answers in (from its query string)."""
    if done != "brought-in" or not count or not cycle:
        return None
    if not _WHOLE.fullmatch(count) or not _CYCLE.fullmatch(cycle):
        return None
    return (
        f"{answers_phrase(int(count))} brought in from {cycle}. They are saved: check each "
        "one and change any that are different this year."
    )


def _page(
    request: Request,
    view: QuestionnaireView,
    offer: LastYearOffer,
    status: int = 200,
    errors: FormErrors | None = None,
    replace: bool = False,
) -> Response:
    shown = offer_shown(view, offer)
    return render(
        request,
        "questionnaires/last_year.html",
        status,
        title=f"Bring in answers from {shown.cycle}",
        view=view,
        offer=offer,
        shown=shown,
        errors=errors or FormErrors(),
        replace=replace,
        phrase=answers_phrase,
    )


@router.get("/questionnaires/{questionnaire_id}/last-year")
async def last_year_page(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    view = await api.view(Access(token=session.token), questionnaire_id)
    offer = await api.last_year(session.token, questionnaire_id)
    return _page(request, view, offer)


@router.post("/questionnaires/{questionnaire_id}/last-year")
async def bring_in(
    request: Request, questionnaire_id: str, session: Lead, api: Questionnaires
) -> Response:
    form = await form_of(request)
    replace = text(form, "replace") == "yes"
    version_text = text(form, "version")
    version = int(version_text) if _WHOLE.fullmatch(version_text) else 0
    try:
        done = await api.bring_in_last_year(session.token, questionnaire_id, version, replace)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors = FormErrors()
        if exc.status == 409 and "changed since" in exc.message:
            errors.add(
                None,
                "Someone changed this questionnaire since you opened this page. "
                "Check what would be brought in now, then choose again.",
            )
        else:
            errors.add("replace" if "confirm" in exc.message else None, _sentence(exc.message))
        view = await api.view(Access(token=session.token), questionnaire_id)
        offer = await api.last_year(session.token, questionnaire_id)
        return _page(request, view, offer, 409, errors, replace)
    count = len(done.changed)
    return RedirectResponse(
        f"/questionnaires/{questionnaire_id}?done=brought-in&count={count}"
        f"&cycle={done.brought_in_from}",
        303,
    )


def _sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
