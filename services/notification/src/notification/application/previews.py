"""The emails' wording, previewed with sample values (the national team).

Samples go through the same path as a real email (`complete_context`, then the templates), with
links pointing at `https://example.invalid` and tokens made with a throwaway key: a preview never
shows a link that works.
"""

from __future__ import annotations

from typing import Any

import jinja2

from csm_kernel.errors import InvalidInput, NotFound
from csm_kernel.links import LinkTokens
from csm_kernel.settings import ServiceSettings

from ..domain.notification import Kind
from .links import complete_context
from .templates import KINDS, render

PREVIEW_PORTAL = "https://example.invalid"
#: Makes preview tokens only: no service holds this key, so they open nothing.
_PREVIEW_TOKENS = LinkTokens(b"preview-only-not-a-real-link-key!")
_PREVIEW_SETTINGS = ServiceSettings(portal_url=PREVIEW_PORTAL)

_LEAD = {"name": "Ann Example", "organisation_name": "Anytown PCT"}
_QUESTIONNAIRE = {
    "title": "CAMHS partnership questionnaire",
    "cycle": "2009-10",
    "questionnaire_id": "q-sample",
    "delegation_id": "d-sample",
}

#: What each kind's template is previewed with: what its intents carry.
SAMPLES: dict[str, dict[str, Any]] = {
    Kind.ACCOUNT_SET_UP: {
        **_LEAD,
        "setup_id": "setup-sample",
        "valid_hours": 72,
        "role": "mapping-lead",
        "group_name": None,
        "again": False,
    },
    Kind.PASSWORD_RESET: {"name": "Ann Example", "reset_id": "reset-sample", "valid_minutes": 60},
    Kind.PASSWORD_CHANGED: {"name": "Ann Example", "changed_at": "6 December 2026 at 8:14am"},
    Kind.EXTENSION_GRANTED: {
        **_LEAD,
        "cycle": "2009-10",
        "until": "14 March 2010 at 11:59pm",
        "reason": "the trust's data manager was away at the close",
    },
    Kind.LEAD_REPLACED: {**_LEAD, "new_lead_name": "Bob Example"},
    Kind.DELEGATION_INVITATION: {
        **_QUESTIONNAIRE,
        "organisation_name": "Anytown PCT",
        "message": "Could you fill in the workforce section by Friday?",
        "expires_at": "5 March 2010",
    },
    Kind.DELEGATION_REVOKED: {
        **_QUESTIONNAIRE,
        "organisation_name": "Anytown PCT",
        "reason": "the lead will answer it",
    },
    Kind.QUESTIONNAIRE_RETURNED: {
        **_QUESTIONNAIRE,
        **_LEAD,
        "delegate_email": "sam.manager@anytown.nhs.uk",
        "comment": "All sections done; the staffing figures are from March.",
    },
    Kind.QUESTIONNAIRE_SENT_BACK: {
        **_QUESTIONNAIRE,
        "organisation_name": "Anytown PCT",
        "comment": "Please add the evidence for question 12.",
    },
    Kind.SIGN_OFF_CONFIRMATION: {
        **_LEAD,
        "cycle": "2009-10",
        "signed_off_at": "26 February 2010, 16:05",
        "supersedes": None,
        "questionnaires_submitted": 4,
        "answers_count": 213,
        "ni51": [{"area": "Anytown", "score": 13}],
    },
    Kind.RETURN_REOPENED: {
        **_LEAD,
        "cycle": "2009-10",
        "reason": "the workforce figures for health visiting need correcting",
    },
    Kind.DEADLINE_REMINDER: {
        **_LEAD,
        "cycle": "2009-10",
        "deadline": "28 February 2010, 23:59",
        "days_left": 7,
        "extended": False,
        "link": f"{PREVIEW_PORTAL}/returns/2009-10",
    },
    Kind.BULLETIN: {
        **_LEAD,
        "subject": "Children's Services Mapping e-bulletin: February 2010",
        "paragraphs": [
            ["Data entry closes on 28 February."],
            ["Summary reports are now available.", "Please check yours before signing off."],
        ],
    },
}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound(f"no email template {kind!r}")
    return kind


def preview(kind: str) -> dict[str, str]:
    """The email of `kind` written with its sample values."""
    context = complete_context(
        kind, dict(SAMPLES.get(kind, {})), _PREVIEW_SETTINGS, _PREVIEW_TOKENS
    )
    try:
        rendered = render(kind, context)
    except jinja2.TemplateError as exc:
        # A template asking for a value its samples (and so, likely, its intents) lack.
        raise InvalidInput.field("kind", f"template {kind} cannot be written: {exc}") from exc
    return {"kind": kind, "subject": rendered.subject, "text": rendered.text, "html": rendered.html}


def templates() -> list[dict[str, Any]]:
    """Every kind of email there is a template for, its parts and its sample values."""
    return [
        {"kind": kind, "parts": ["subject", "text", "html"], "sample": SAMPLES.get(kind, {})}
        for kind in sorted(KINDS)
    ]
