"""The Jinja filters every page uses to show the services' values as people read them:
dates and times ("6 December 2026 at 8:14am", Europe/London), numbers (12,345), money
(£760,000), Yes and No, codes as words (kinds, regions, statuses), and any value of a report's
table by its column (`shown`)."""

from __future__ import annotations

import re

from jinja2 import Environment

from ...application.dates import gov_date, gov_datetime
from ...application.numbers import money, thousands
from ...application.words import kind_name, label, region_name, shown_value, yes_no


def event_words(value: object) -> str:
    """An event's name as words: "AnswersSaved" -> "Answers saved"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(value)).capitalize()


def install(env: Environment) -> None:
    """Put the filters on a template environment."""
    env.filters.update(
        {
            "when": gov_datetime,
            "date_only": gov_date,
            "number": thousands,
            "money": money,
            "yes_no": yes_no,
            "label": label,
            "kind": kind_name,
            "region": region_name,
            "words": event_words,
            "shown": shown_value,
        }
    )
