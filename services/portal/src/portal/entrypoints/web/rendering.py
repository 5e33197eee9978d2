"""Templates, the page context every page shares, and the GOV.UK error summary's data.

Every form page reports problems the same way: `FormErrors` holds each problem as the text
shown in the error summary and beside the field, with the field's id for the summary's link.
API refusals (422 `details[].field`) become the same thing through `FormErrors.from_api`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import (
    ChoiceLoader,
    Environment,
    PackageLoader,
    PrefixLoader,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup, escape

from ...application.errors import ApiError
from ...application.history import actor_name
from ...application.messages import field_message
from ...application.models import QuestionnaireView
from . import csrf, filters
from .deps import portal_of
from .navigation import back_link, navigation, offers_sign_in


def controlling(view: QuestionnaireView) -> set[str]:
    """The questions some other question's `show_if` reads: only a change to one of them needs
    the page re-rendered. Re-rendering on every change replaced the fields while people (or
    tests) were still typing in them, and what they had typed was lost."""
    ids = {q["id"] for s in view.get("sections", []) for q in s.get("questions", [])}
    words: set[str] = set()
    for s in view.get("sections", []):
        for q in s.get("questions", []):
            show_if = q.get("show_if")
            if show_if:
                words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", show_if))
    return ids & words


SERVICE_NAME = "Children's Services Mapping"


def _environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("portal", "templates"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters.install(env)
    env.filters["linkify"] = linkify
    env.filters["tier_item"] = lambda v, chosen: {
        "value": v,
        "text": f"Tier {v}",
        "selected": v == chosen,
    }
    env.globals["pick"] = pick
    env.globals["picks"] = picks
    env.globals["controlling"] = controlling
    env.globals["actor_name"] = actor_name
    env.filters["organisation"] = organisation_name
    return env


@pass_context
def organisation_name(context: Context, code: object) -> str:
    """An organisation by its name where the page knows it (the signed-in person's own, the
    questionnaire the page shows, or a page's `organisation_names`), else by its code."""
    session = context.get("session")
    if session is not None and session.organisation_id == code and session.organisation_name:
        return str(session.organisation_name)
    view = context.get("view")
    if (
        isinstance(view, Mapping)
        and view.get("organisation_id") == code
        and view.get("organisation_name")
    ):
        return str(view["organisation_name"])
    known = context.get("organisation_names") or {}
    return str(known.get(code) or code or "")


def pick(values: Mapping[str, object], name: str) -> str:
    """One input's value from a form's values (a repeated name: its first)."""
    value = values.get(name, "")
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)


def picks(values: Mapping[str, object], name: str) -> list[str]:
    """Every value of a repeated input (checkboxes)."""
    value = values.get(name)
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Plain text with its URLs as links (the mailbox's bodies), everything else escaped."""
    out: list[str] = []
    last = 0
    for m in _URL.finditer(text):
        out.append(str(escape(text[last : m.start()])))
        url = escape(m.group(0))
        out.append(f'<a class="govuk-link" href="{url}">{url}</a>')
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece was escaped above


@dataclass
class FormErrors:
    """A form's problems: (field id, text), in the order the form asks."""

    items: list[tuple[str | None, str]] = field(default_factory=list)
    #: The summary's own wording where it needs more than the field's (which question).
    summaries: dict[int, str] = field(default_factory=dict)

    def add(self, field_id: str | None, text: str, summary: str | None = None) -> None:
        if summary is not None:
            self.summaries[len(self.items)] = summary
        self.items.append((field_id, text))

    def __bool__(self) -> bool:
        return bool(self.items)

    def of(self, field_id: str) -> dict[str, str] | None:
        """The govuk macros' `errorMessage` for one field, or None."""
        texts = [t for f, t in self.items if f == field_id]
        return {"text": "; ".join(texts)} if texts else None

    def summary(self) -> list[dict[str, str]]:
        """The govuk error summary's `errorList`."""
        return [
            {"text": self.summaries.get(i, text), **({"href": f"#{fid}"} if fid else {})}
            for i, (fid, text) in enumerate(self.items)
        ]

    @classmethod
    def from_api(
        cls, exc: ApiError, fields: Mapping[str, tuple[str, str]], *, fallback: str | None = None
    ) -> FormErrors:
        """An API's refusal as form errors. `fields` maps the API's field name to (the form
        field's id, its label); a detail naming no known field goes to the summary alone (or
        to `fallback`), and a refusal without details shows its message."""
        errors = cls()
        for d in exc.details:
            api_field = str(d.get("field") or "")
            reason = str(d.get("reason") or d.get("message") or exc.message)
            fid, label = _lookup(fields, api_field)
            errors.add(fid or fallback, field_message(label, reason))
        if not errors:
            errors.add(fallback, field_message(None, exc.message))
        return errors


def _lookup(fields: Mapping[str, tuple[str, str]], api_field: str) -> tuple[str | None, str | None]:
    # Nested names ("contact.email", "lead.0.email") match the longest known prefix.
    parts = api_field.split(".")
    while parts:
        key = ".".join(parts)
        if key in fields:
            return fields[key]
        parts.pop()
    return None, api_field or None


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    """A page, with what the layout needs (who is signed in, which links to show, the form
    token and the inline script's nonce)."""
    portal = portal_of(request)
    session = getattr(request.state, "session", None)
    mailbox = session is not None and session.is_national and portal.settings.mailbox() is not None
    settings = portal.settings
    ctx = {
        "request": request,
        "session": session,
        "service_name": SERVICE_NAME,
        "mailbox_enabled": mailbox,
        "navigation": navigation(session, request.url.path, mailbox),
        "offer_sign_in": offers_sign_in(request.url.path),
        # An error page says where to go in its own words; other pages below the top get a
        # back link unless they name their own.
        "back_href": back_link(request) if status_code < 400 else None,
        "contact": {
            "team": settings.contact_team,
            "email": settings.contact_email,
            "phone": settings.contact_phone,
            "hours": settings.contact_hours,
            "feedback_url": settings.feedback_url,
        },
        "csrf_token": csrf.page_token(request),
        # GOV.UK's template puts it on its inline script (see security.py's policy).
        "cspNonce": getattr(request.state, "csp_nonce", None),
        "errors": context.pop("errors", None) or FormErrors(),
        **context,
    }
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)
