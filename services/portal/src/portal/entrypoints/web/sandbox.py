"""The sandbox: any questionnaire, no account, nothing saved. Follow-ups, checks and grades
work as in the real thing, through the questionnaire service's sandbox."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...application.answers import answers_from_form, form_values, questions_of
from .answering import form_of
from .rendering import FormErrors, render
from .session import OptionalSession

router = APIRouter()


@router.get("/sandbox")
async def definitions(request: Request, _: OptionalSession) -> Response:
    listed = await request.app.state.portal.apis.questionnaire.get("/definitions")
    return render(request, "sandbox/list.html", title="Sandbox questionnaires", definitions=listed)


async def _tried(request: Request, ref: str, answers: dict[str, Any]) -> dict[str, Any]:
    api = request.app.state.portal.apis.questionnaire
    tried: dict[str, Any] = await api.post(f"/sandbox/{ref}", json={"answers": answers})
    return tried


def _page(
    request: Request,
    ref: str,
    view: dict[str, Any],
    fv: dict[str, Any],
    errors: FormErrors,
    status: int = 200,
    checked: bool = False,
) -> Response:
    view = {**view, "id": ref, "title": view.get("definition_title", ref), "can_edit": True}
    return render(
        request,
        "sandbox/page.html",
        status,
        title=view["title"],
        view=view,
        fv=fv,
        errors=errors,
        editable=True,
        action=f"/sandbox/{ref}",
        checked=checked,
    )


@router.get("/sandbox/{ref}")
async def blank(request: Request, ref: str, _: OptionalSession) -> Response:
    view = await _tried(request, ref, {})
    return _page(request, ref, view, form_values(view), FormErrors())


async def _from_form(request: Request, ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
    form = await form_of(request)
    blank_view = await _tried(request, ref, {})
    answers = answers_from_form(form, questions_of(blank_view))
    view = await _tried(request, ref, {k: v for k, v in answers.items() if v is not None})
    posted = {k: (form.getlist(k) if len(form.getlist(k)) > 1 else form.get(k)) for k in form}
    return view, posted


@router.post("/sandbox/{ref}/preview")
async def what_if(request: Request, ref: str, _: OptionalSession) -> Response:
    view, posted = await _from_form(request, ref)
    return render(request, "questionnaires/_questions.html", view=view, fv=posted, editable=True)


@router.post("/sandbox/{ref}")
async def check(request: Request, ref: str, _: OptionalSession) -> Response:
    """Every problem the answers have, as a submission would list them: nothing is saved."""
    view, posted = await _from_form(request, ref)
    questions = questions_of(view)
    errors = FormErrors()
    for problem in [*view.get("errors", []), *view.get("missing", []), *view.get("warnings", [])]:
        qid = problem.get("question", "")
        reason = str(problem.get("reason", "")).strip()
        reason = "Answer this question" if reason.lower() == "required" else reason
        reason = reason[:1].upper() + reason[1:]
        text = questions.get(qid, {}).get("text", qid)
        errors.add(
            f"q-{qid}" if qid in questions else None, reason, summary=f"{text[:80]}: {reason}"
        )
    return _page(request, ref, view, posted, errors, 200, checked=True)
