"""What the lead's and the delegate's questionnaire pages share: load, show follow-ups as the
answers change (a what-if rendering through the questionnaire service's sandbox, which applies
the same rules and saves nothing), save, and turn refusals into the form's errors.

Every button on a questionnaire page is in the one form with the answers, so whatever it does
(continue, come back later, check, submit, delegate, accept, send back, return) saves what is
on the page first, and does nothing more if the save is refused."""

from __future__ import annotations

from dataclasses import dataclass, field

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
from ...application.sections import (
    is_long,
    next_section,
    only,
    progress,
    readable_numbers,
    rule_limits,
    running_totals,
    section_for_question,
    section_of,
    shown_sections,
    summary,
)
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


@dataclass(frozen=True)
class Place:
    """Where one questionnaire's pages live: `/questionnaires/{id}` for the lead,
    `/delegate/{token}` for the delegate."""

    base: str
    delegate_token: str | None = None

    def section(self, section_id: str | None) -> str:
        return f"{self.base}/sections/{section_id}" if section_id else self.base

    def change(self, view: QuestionnaireView, question_id: str) -> str:
        """The page (and place on it) where one question is answered."""
        if not is_long(view):
            return f"{self.base}#q-{question_id}"
        return f"{self.section(section_for_question(view).get(question_id))}#q-{question_id}"


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
    #: The questions the page showed when it was posted (`present`).
    posted: list[str] = field(default_factory=list)


async def preview(target: Target, form: FormData) -> Outcome:
    """The form re-rendered for the answers as they stand in it (nothing saved)."""
    view = await target.view()
    questions = questions_of(view)
    answers = {**stored_answers(view), **answers_from_form(form, questions)}
    rendered = await target.what_if(view, {k: v for k, v in answers.items() if v is not None})
    return Outcome(overlay(view, rendered), _posted(form), FormErrors(), saved=False)


async def save_form(target: Target, form: FormData) -> Outcome:
    """Save what the form holds; on a refusal, the form again with its errors. A form with no
    questions on it (an overview's or a check page's button) saves nothing."""
    view = await target.view()
    questions = questions_of(view)
    posted = [qid for qid in form.getlist("present") if isinstance(qid, str) and qid in questions]
    if not posted:
        return Outcome(view, {**form_values(view), **_posted(form)}, FormErrors(), True, [])
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
            return Outcome(fresh, form_values(fresh), errors, False, posted)
        if exc.status != 422:
            raise
        shown = overlay(view, rendered)
        return Outcome(shown, _posted(form), question_errors(exc, view), False, posted)
    after = await target.view()
    return Outcome(after, form_values(after), FormErrors(), True, posted)


def _posted(form: FormData) -> JsonObject:
    out: JsonObject = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = items if len(items) != 1 else items[0]
    return out


async def form_of(request: Request) -> FormData:
    return await request.form()


def posted_section(form: FormData) -> str | None:
    value = form.get("section")
    return value if isinstance(value, str) and value else None


def onward(place: Place, outcome: Outcome, section: str | None) -> str:
    """Where "Save and continue" leads: the same page when the answers brought follow-up
    questions onto it (as without JavaScript they only appear after saving), else the next
    section, else "check your answers"."""
    view = outcome.view
    on_page = only(view, section) if section else view
    appeared = set(visible_ids(on_page)) - set(outcome.posted)
    if appeared:
        first = next(q for q in visible_ids(on_page) if q in appeared)
        return f"{place.section(section)}?done=saved#q-{first}"
    if section:
        after = next_section(view, section)
        if after:
            return place.section(after)
    return f"{place.base}/check"


def questions_part(
    request: Request, place: Place, outcome: Outcome, section: str | None
) -> Response:
    """The questions alone (htmx swaps them in as the answers change)."""
    view = outcome.view
    shown = only(view, section) if section and is_long(view) else view
    return render(
        request,
        "questionnaires/_questions.html",
        view=shown,
        fv=outcome.values,
        editable=view.get("can_edit"),
        preview_url=f"{place.base}/preview",
        totals=running_totals(view, outcome.values, set(visible_ids(shown))),
        limits=rule_limits(view, outcome.values, set(visible_ids(shown))),
        one_section=shown is not view,
    )


def questionnaire_page(
    request: Request,
    place: Place,
    outcome: Outcome,
    status: int = 200,
    *,
    section: str | None = None,
    **ctx: object,
) -> Response:
    """A questionnaire's page: a long one's overview (each section with its progress) or one
    section; a short one whole. For the lead and the delegate alike."""
    view = outcome.view
    common = {
        "title": view["title"],
        "view": view,
        "fv": outcome.values,
        "errors": outcome.errors,
        "editable": view.get("can_edit"),
        "place": place,
        "delegate_token": place.delegate_token,
        "hide_account": place.delegate_token is not None,
        **ctx,
    }
    if is_long(view) and section is None:
        return render(
            request, "questionnaires/overview.html", status, progress=progress(view), **common
        )
    shown = only(view, section) if section else view
    on_page = set(visible_ids(shown))
    # The answers filled in from the service record that this page shows, by their wording.
    texts = {q["id"]: q["text"] for q in questions_of(view).values()}
    filled = ctx.pop("prefilled", None)
    common["prefilled"] = [
        texts[q] for q in (filled if isinstance(filled, list) else []) if q in on_page
    ]
    sections = shown_sections(view)
    number = next((i for i, s in enumerate(sections, 1) if s["id"] == section), 0)
    current = section_of(view, section) if section else None
    return render(
        request,
        "questionnaires/page.html",
        status,
        shown=shown,
        section=current,
        section_number=number,
        section_count=len(sections),
        action=place.section(section),
        totals=running_totals(view, outcome.values, on_page),
        limits=rule_limits(view, outcome.values, on_page),
        one_section=current is not None,
        **common,
    )


def check_page(
    request: Request, place: Place, view: QuestionnaireView, status: int = 200, **ctx: object
) -> Response:
    """Every answer on one page with a link to change each, then submit (the lead) or return
    (the delegate), with what is missing and which rules are not met."""
    return render(
        request,
        "questionnaires/check.html",
        status,
        title=f"Check your answers: {view['title']}",
        view=view,
        parts=summary(view),
        warnings=[
            {**w, "reason": readable_numbers(str(w.get("reason", "")))}
            for w in view.get("warnings", [])
        ],
        place=place,
        delegate_token=place.delegate_token,
        hide_account=place.delegate_token is not None,
        editable=view.get("can_edit"),
        **ctx,
    )


def problems(errors: FormErrors, view: QuestionnaireView, place: Place) -> list[dict[str, str]]:
    """Errors for a page without the questions on it ("check your answers"): each linked to
    the page where its question is answered."""
    out: list[dict[str, str]] = []
    for item in errors.summary():
        href = item.get("href", "")
        qid = href.removeprefix("#q-") if href.startswith("#q-") else None
        out.append({**item, "href": place.change(view, qid)} if qid else item)
    return out


def print_page(
    request: Request, views: list[QuestionnaireView], title: str, back: str, **ctx: object
) -> Response:
    """One questionnaire, or a whole return, laid out to print (every answer, no buttons)."""
    return render(
        request,
        "questionnaires/print.html",
        200,
        title=title,
        heading=title,
        printed=[(v, summary(v)) for v in views],
        back=back,
        width="full",
        **ctx,
    )
