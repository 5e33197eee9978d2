"""A questionnaire's history as its page lists it: each change named by its question's text
and its answers by their options' labels, each entry's own details (reason, comment, who) as
labelled pairs, and who did it by name or email rather than an account or link id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .models import Delegation, JsonObject, LeadNomination, QuestionnaireView
from .numbers import thousands
from .words import option_label

#: History entry fields shown as they are (the changes are shown question by question).
SHOWN = ("reason", "comment", "delegate_email", "submitted_by", "signed_off_by", "definition")
#: Of those, the ones that name an actor (`user:…`), shown as that person.
PEOPLE_FIELDS = ("submitted_by", "signed_off_by")
#: Actors that are not people.
SERVICES = {"service:questionnaire": "The service (automatically)"}


def question_texts(view: QuestionnaireView) -> dict[str, str]:
    """Each question's text by its id."""
    return {q["id"]: q["text"] for s in view.get("sections", []) for q in s.get("questions", [])}


def question_options(view: QuestionnaireView) -> dict[str, dict[str, str]]:
    """Each choice question's option labels by value, by the question's id."""
    return {
        q["id"]: {str(o["value"]): o["label"] for o in q.get("options") or []}
        for s in view.get("sections", [])
        for q in s.get("questions", [])
    }


def shown_answer(value: object, options: Mapping[str, str] | None = None) -> object:
    """An answer as people write it: yes or no, not True or False; options by their labels;
    a list as a list of words; numbers with thousands separators."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return thousands(value)
    return option_label(options or {}, value)


def people(
    me: tuple[str, str | None],
    leads: Iterable[LeadNomination] = (),
    delegations: Iterable[Delegation] = (),
) -> dict[str, str]:
    """Who each actor is, as far as the caller may know: the organisation's leads and the
    questionnaire's delegates by name or email, and the caller themself."""
    names: dict[str, str] = {}
    for lead in leads:
        if lead.account_id:
            names[f"user:{lead.account_id}"] = lead.name or lead.email or "The mapping lead"
    for d in delegations:
        names[f"delegate:{d.id}"] = d.email
    user_id, email = me
    names[f"user:{user_id}"] = f"You ({email})" if email else "You"
    return names


def actor_name(actor: object, names: Mapping[str, str]) -> str:
    """An actor as people know them; one nobody here can name says what kind it is."""
    text = str(actor or "")
    if text in names:
        return names[text]
    if text in SERVICES:
        return SERVICES[text]
    kind, _, ident = text.partition(":")
    if kind == "delegate":
        return "Someone they asked (by an emailed link)"
    if kind == "user":
        return f"Another account ({ident[:8]})" if ident else "Another account"
    return text or "Unknown"


def history_rows(
    view: QuestionnaireView,
    entries: Sequence[JsonObject],
    names: Mapping[str, str] | None = None,
) -> list[JsonObject]:
    texts = question_texts(view)
    options = question_options(view)
    names = names or {}
    return [
        {
            **e,
            "who": actor_name(e.get("actor"), names),
            "changes": [
                {
                    **c,
                    "text": texts.get(c.get("question"), c.get("question")),
                    "old": shown_answer(c.get("old"), options.get(str(c.get("question")))),
                    "new": shown_answer(c.get("new"), options.get(str(c.get("question")))),
                }
                for c in e.get("changes") or []
            ],
            "details": [
                (
                    k.replace("_", " ").capitalize(),
                    actor_name(e[k], names) if k in PEOPLE_FIELDS else e[k],
                )
                for k in SHOWN
                if e.get(k)
            ],
        }
        for e in entries
    ]
