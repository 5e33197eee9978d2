"""A questionnaire's history as its page lists it: each change named by its question's text
and its answers by their options' labels, each entry's own details (reason, comment, who) as
labelled pairs, and who did it by name or email rather than an account or link id; answers
brought in from last year's questionnaire say so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .dates import gov_date
from .models import Delegation, JsonObject, Person, QuestionnaireView
from .numbers import money, thousands
from .words import option_label

#: History entry fields shown as they are (the changes are shown question by question).
SHOWN = (
    "reason",
    "comment",
    "delegate_email",
    "submitted_by",
    "signed_off_by",
    "withdrawn_by",
    "definition",
)
#: Of those, the ones that name an actor (`user:…`), shown as that person.
PEOPLE_FIELDS = ("submitted_by", "signed_off_by", "withdrawn_by")
#: The details' labels where the field's name is not the words.
LABELS = {"definition": "Questionnaire version", "delegate_email": "Sent to"}
#: Actors that are not people.
SERVICES = {"service:questionnaire": "The service (automatically)"}
#: An account registration does not know (none should be: accounts are never deleted).
UNKNOWN_ACCOUNT = "Someone whose account is not on record"


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


def question_types(view: QuestionnaireView) -> dict[str, str]:
    """Each question's type ("money", "integer", "date" ...) by its id."""
    return {
        q["id"]: q.get("type", "") for s in view.get("sections", []) for q in s.get("questions", [])
    }


def shown_answer(value: object, options: Mapping[str, str] | None = None, kind: str = "") -> object:
    """An answer as people write it: yes or no, not True or False; options by their labels;
    a list as a list of words; money as £760,000, numbers with thousands separators and a
    date as GOV.UK writes it."""
    if value is None:
        return None
    if kind == "money":
        return money(value)
    if kind == "date":
        return gov_date(value)
    if kind in ("integer", "decimal") or (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        return thousands(value)
    return option_label(options or {}, value)


def person_name(person: Person) -> str:
    """An account as the caller may know it: their name (else email); of one they may not
    know, where it belongs ("Someone at 5A4 Primary Care Trust", "Someone in the national
    mapping team"), never its id."""
    if person.name or person.email:
        return str(person.name or person.email)
    if person.national:
        return "Someone in the national mapping team"
    if person.organisation_name or person.organisation_id:
        return f"Someone at {person.organisation_name or person.organisation_id}"
    return UNKNOWN_ACCOUNT


def actor_ids(entries: Iterable[Mapping[str, object]], keys: Sequence[str] = ()) -> list[str]:
    """The account ids of every `user:` actor in `entries`: who did each thing, and who any
    `…_by` field (or `keys`) names; each once, in order."""
    ids: dict[str, None] = {}
    for e in entries:
        for key, value in e.items():
            if key == "actor" or key.endswith("_by") or key in keys:
                kind, _, ident = str(value or "").partition(":")
                if kind == "user" and ident:
                    ids[ident] = None
    return list(ids)


def people(
    me: tuple[str, str | None],
    persons: Iterable[Person] = (),
    delegations: Iterable[Delegation] = (),
    entries: Iterable[Mapping[str, object]] = (),
) -> dict[str, str]:
    """Who each actor is, as far as the caller may know: accounts as registration names them
    to the caller (`GET /people`), delegates by the email their link went to (the delegations,
    or the history's own "delegated" entries) and the caller themself as "You"."""
    names: dict[str, str] = {}
    for person in persons:
        names[f"user:{person.account_id}"] = person_name(person)
    for d in delegations:
        names[f"delegate:{d.id}"] = d.email
    for e in entries:
        if e.get("delegation_id") and e.get("delegate_email"):
            names[f"delegate:{e['delegation_id']}"] = str(e["delegate_email"])
    user_id, email = me
    names[f"user:{user_id}"] = f"You ({email})" if email else "You"
    return names


def actor_name(actor: object, names: Mapping[str, str]) -> str:
    """An actor as people know them; one nobody here can name says what kind it is, never
    its id."""
    text = str(actor or "")
    if text in names:
        return names[text]
    if text in SERVICES:
        return SERVICES[text]
    kind, _, _ = text.partition(":")
    if kind == "delegate":
        return "Someone asked by email"
    if kind == "user":
        return UNKNOWN_ACCOUNT
    if kind == "service":
        return "The service (automatically)"
    return "Unknown"


def _detail(key: str, value: object, names: Mapping[str, str]) -> object:
    if key in PEOPLE_FIELDS:
        return actor_name(value, names)
    if key == "definition":  # "service@1": the definition's version
        return str(value).rpartition("@")[2] or value
    return value


def brought_in_from(entry: JsonObject) -> str | None:
    """The cycle a history entry's answers were brought in from, if they were."""
    source = entry.get("brought_in_from")
    if isinstance(source, dict) and source.get("cycle"):
        return str(source["cycle"])
    return None


def history_rows(
    view: QuestionnaireView,
    entries: Sequence[JsonObject],
    names: Mapping[str, str] | None = None,
) -> list[JsonObject]:
    texts = question_texts(view)
    options = question_options(view)
    types = question_types(view)
    names = names or {}

    def answer(change: JsonObject, which: str) -> object:
        question = str(change.get("question"))
        return shown_answer(change.get(which), options.get(question), types.get(question, ""))

    return [
        {
            **e,
            "who": actor_name(e.get("actor"), names),
            # Answers brought in from an earlier cycle (the person chose to) say so.
            "brought_in": brought_in_from(e),
            "changes": [
                {
                    **c,
                    "text": texts.get(c.get("question"), c.get("question")),
                    "old": answer(c, "old"),
                    "new": answer(c, "new"),
                }
                for c in e.get("changes") or []
            ],
            "details": [
                (LABELS.get(k, k.replace("_", " ").capitalize()), _detail(k, e[k], names))
                for k in SHOWN
                if e.get(k)
            ],
        }
        for e in entries
    ]
