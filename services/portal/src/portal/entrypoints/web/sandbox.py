"""The sandbox: any questionnaire, no account, nothing saved. Follow-ups, checks and grades
work as in the real thing, through the questionnaire service's sandbox."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...application.answers import answers_from_form, form_values, questions_of
from ...application.models import JsonObject, QuestionnaireView
from ...application.ports import QuestionnaireApi
from .answering import form_of
from .deps import Questionnaires
from .rendering import FormErrors, render
from .session import OptionalSession

router = APIRouter(default_response_class=HTMLResponse)


@router.get("/sandbox")
async def definitions(request: Request, _: OptionalSession, api: Questionnaires) -> Response:
    listed = await api.definitions()
    return render(request, "sandbox/list.html", title="Sandbox questionnaires", definitions=listed)


async def _tried(api: QuestionnaireApi, ref: str, answers: JsonObject) -> QuestionnaireView:
    return await api.try_answers(ref, {"answers": answers})


def _page(
    request: Request,
    ref: str,
    rendered: QuestionnaireView,
    fv: JsonObject,
    errors: FormErrors,
    status: int = 200,
    checked: bool = False,
) -> Response:
    title = rendered.get("definition_title", ref)
    view: QuestionnaireView = {**rendered, "id": ref, "title": title, "can_edit": True}
    return render(
        request,
        "sandbox/page.html",
        status,
        title=title,
        view=view,
        fv=fv,
        errors=errors,
        editable=True,
        action=f"/sandbox/{ref}",
        checked=checked,
    )


@router.get("/sandbox/{ref}")
async def blank(request: Request, ref: str, _: OptionalSession, api: Questionnaires) -> Response:
    view = await _tried(api, ref, {})
    return _page(request, ref, view, form_values(view), FormErrors())


async def _from_form(
    request: Request, api: QuestionnaireApi, ref: str
) -> tuple[QuestionnaireView, JsonObject]:
    form = await form_of(request)
    blank_view = await _tried(api, ref, {})
    answers = answers_from_form(form, questions_of(blank_view))
    view = await _tried(api, ref, {k: v for k, v in answers.items() if v is not None})
    posted = {k: (form.getlist(k) if len(form.getlist(k)) > 1 else form.get(k)) for k in form}
    return view, posted


@router.post("/sandbox/{ref}/preview")
async def what_if(request: Request, ref: str, _: OptionalSession, api: Questionnaires) -> Response:
    view, posted = await _from_form(request, api, ref)
    return render(request, "questionnaires/_questions.html", view=view, fv=posted, editable=True)


@router.post("/sandbox/{ref}")
async def check(request: Request, ref: str, _: OptionalSession, api: Questionnaires) -> Response:
    """Every problem the answers have, as a submission would list them: nothing is saved."""
    view, posted = await _from_form(request, api, ref)
    questions = questions_of(view)
    errors = FormErrors()
    for problem in [*view.get("errors", []), *view.get("missing", []), *view.get("warnings", [])]:
        qid = problem.get("question", "")
        reason = str(problem.get("reason", "")).strip()
        reason = "Answer this question" if reason.lower() == "required" else reason
        reason = reason[:1].upper() + reason[1:]
        asked = questions.get(qid)
        text = asked["text"] if asked is not None else qid
        errors.add(
            f"q-{qid}" if qid in questions else None, reason, summary=f"{text[:80]}: {reason}"
        )
    return _page(request, ref, view, posted, errors, 200, checked=True)
