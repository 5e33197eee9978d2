"""A questionnaire's history as its page lists it: each change named by its question's text,
and the entry's own details (reason, comment, who) as labelled pairs."""

from __future__ import annotations

from collections.abc import Sequence

from .models import JsonObject, QuestionnaireView

#: History entry fields shown as they are (the changes are shown question by question).
SHOWN = ("reason", "comment", "delegate_email", "submitted_by", "signed_off_by", "definition")


def question_texts(view: QuestionnaireView) -> dict[str, str]:
    """Each question's text by its id."""
    return {q["id"]: q["text"] for s in view.get("sections", []) for q in s.get("questions", [])}


def shown_answer(value: object) -> object:
    """An answer as people write it: yes or no, not True or False; a list as a list of words."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def history_rows(view: QuestionnaireView, entries: Sequence[JsonObject]) -> list[JsonObject]:
    texts = question_texts(view)
    return [
        {
            **e,
            "changes": [
                {
                    **c,
                    "text": texts.get(c.get("question"), c.get("question")),
                    "old": shown_answer(c.get("old")),
                    "new": shown_answer(c.get("new")),
                }
                for c in e.get("changes") or []
            ],
            "details": [(k.replace("_", " ").capitalize(), e[k]) for k in SHOWN if e.get(k)],
        }
        for e in entries
    ]
