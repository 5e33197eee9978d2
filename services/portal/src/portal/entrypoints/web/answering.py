"""What the lead's and the delegate's questionnaire pages share: load, show follow-ups as the
answers change (a what-if rendering through the questionnaire service's sandbox, which applies
the same rules and saves nothing), save, and turn refusals into the form's errors."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from ...application.answers import (
    answers_from_form,
    form_values,
    overlay,
    questions_of,
    stored_answers,
    visible_ids,
    without_hidden,
)
from ...application.errors import ApiError
from ...application.models import JsonObject, QuestionnaireView, Subject
from ...application.ports import Access, QuestionnaireApi
from .rendering import FormErrors, render


@dataclass
class Target:
    """One questionnaire, reached as the lead (a bearer token) or a delegate (a link token)."""

    api: QuestionnaireApi
    questionnaire_id: str
    access: Access

    async def view(self) -> QuestionnaireView:
        return await self.api.view(self.access, self.questionnaire_id)

    async def what_if(self, view: QuestionnaireView, answers: JsonObject) -> QuestionnaireView:
        """Which questions `answers` would show, without saving them."""
        subject: Subject = view.get("subject") or {}
        body: JsonObject = {"answers": answers}
        if subject.get("kind") == "area":
            body["area"] = subject.get("id")
        return await self.api.try_answers(view["definition"], body)

    async def save(self, version: int, answers: JsonObject) -> None:
        await self.api.save_answers(self.access, self.questionnaire_id, version, answers)


def question_errors(exc: ApiError, view: QuestionnaireView) -> FormErrors:
    """A refusal naming questions (422 details, or what is missing on submit) as form errors,
    each linked to its question."""
    questions = questions_of(view)
    errors = FormErrors()
    for d in exc.details:
        qid = str(d.get("field") or d.get("question") or "")
        reason = str(d.get("reason") or exc.message).strip().rstrip(".")
        q = questions.get(qid)
        if reason.lower() in ("required", "field required", "missing", "this question is required"):
            reason = "Answer this question"
        elif (
            q is not None
            and q["type"] in ("single_choice", "yes_no", "scored_scale")
            and ("choose" in reason.lower() or "score must" in reason.lower())
        ):
            reason = reason[:1].upper() + reason[1:]
        else:
            reason = reason[:1].upper() + reason[1:]
        if q is None:
            errors.add(None, reason)
            continue
        short = q["text"] if len(q["text"]) <= 90 else q["text"][:87].rsplit(" ", 1)[0] + "…"
        errors.add(f"q-{qid}", reason, summary=f"{short}: {reason}")
    if not errors:
        errors.add(None, exc.message)
    return errors


@dataclass
class Outcome:
    """After posting the form: the view to show, the form's values, and any errors."""

    view: QuestionnaireView
    values: JsonObject
    errors: FormErrors
    saved: bool


async def preview(target: Target, form: FormData) -> Outcome:
    """The form re-rendered for the answers as they stand in it (nothing saved)."""
    view = await target.view()
    questions = questions_of(view)
    answers = {**stored_answers(view), **answers_from_form(form, questions)}
    rendered = await target.what_if(view, {k: v for k, v in answers.items() if v is not None})
    return Outcome(overlay(view, rendered), _posted(form), FormErrors(), saved=False)


async def save_form(target: Target, form: FormData) -> Outcome:
    """Save what the form holds; on a refusal, the form again with its errors."""
    view = await target.view()
    questions = questions_of(view)
    stored = stored_answers(view)
    changes = answers_from_form(form, questions)
    merged = {k: v for k, v in {**stored, **changes}.items() if v is not None}
    rendered = await target.what_if(view, merged)
    to_send = without_hidden(changes, visible_ids(rendered), stored)
    version_text = form.get("version")
    version = int(version_text) if isinstance(version_text, str) and version_text.isdigit() else 0
    try:
        await target.save(version, to_send)
    except ApiError as exc:
        if exc.status == 409:
            errors = FormErrors()
            errors.add(
                None,
                "Someone else changed this questionnaire since you opened it. "
                "Check the answers below and save again.",
            )
            fresh = await target.view()
            return Outcome(fresh, form_values(fresh), errors, saved=False)
        if exc.status != 422:
            raise
        return Outcome(overlay(view, rendered), _posted(form), question_errors(exc, view), False)
    after = await target.view()
    return Outcome(after, form_values(after), FormErrors(), saved=True)


def _posted(form: FormData) -> JsonObject:
    out: JsonObject = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = items if len(items) != 1 else items[0]
    return out


async def form_of(request: Request) -> FormData:
    return await request.form()


def questionnaire_page(
    request: Request, outcome: Outcome, status: int, *, action: str, **ctx: object
) -> Response:
    """The questionnaire page, for the lead (posting to `action`) or the delegate alike."""
    view = outcome.view
    return render(
        request,
        "questionnaires/page.html",
        status,
        title=view["title"],
        view=view,
        fv=outcome.values,
        errors=outcome.errors,
        editable=view.get("can_edit"),
        action=action,
        **ctx,
    )
