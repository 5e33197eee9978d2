"""The national team's messages: a reminder schedule as typed, and a bulletin's audience."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .models import JsonObject
from .numbers import whole_number
from .words import kind_name, region_name

_SEPARATORS = re.compile(r"[\s,;]+")


def _parts(typed: str) -> list[str]:
    return [p for p in _SEPARATORS.split(typed) if p]


def days_problem(typed: str) -> str | None:
    """What is wrong with a typed reminder schedule ("28, 14, 7, 1"), if anything."""
    parts = _parts(typed)
    if not parts:
        return "Enter how many days before the close to send reminders"
    days = [whole_number(p) for p in parts]
    if any(d is None or d < 0 for d in days):
        return "Enter whole numbers of days separated by commas, like 28, 14, 7, 1"
    return None


def days_before(typed: str) -> list[int]:
    """A schedule `days_problem` passed, as numbers."""
    return [d for d in (whole_number(p) for p in _parts(typed)) if d is not None]


def audience(
    regions: Sequence[str],
    kinds: Sequence[str],
    organisations: str,
    not_signed_off_in: str | None = None,
) -> JsonObject | None:
    """Who a bulletin goes to: the chosen regions, kinds and typed organisation codes, and
    maybe only the leads whose return for a cycle is not signed off; None (every mapping lead)
    when nothing is chosen."""
    chosen: JsonObject = {
        "regions": list(regions),
        "kinds": list(kinds),
        "organisation_ids": [code for code in _SEPARATORS.split(organisations.upper()) if code],
    }
    if not_signed_off_in:
        chosen["not_signed_off_in"] = not_signed_off_in
    return chosen if any(chosen.values()) else None


def audience_words(chosen: Mapping[str, object] | object | None) -> str:
    """Who a bulletin goes to, in words: "every mapping lead", or "the leads of organisations
    in London and of the kind Primary care trust and whose 2009-10 return is not signed off
    yet". Takes the service's filter (a mapping or a read model with the same names)."""

    def get(name: str) -> object:
        if chosen is None:
            return None
        if isinstance(chosen, Mapping):
            return chosen.get(name)
        return getattr(chosen, name, None)

    def listed(name: str) -> list[str]:
        value = get(name)
        return [str(v) for v in value] if isinstance(value, list | tuple) else []

    regions = [region_name(r) for r in listed("regions")]
    kinds = [kind_name(k) for k in listed("kinds")]
    who = []
    if regions:
        who.append("in " + ", ".join(regions))
    if kinds:
        who.append(("of the kinds " if len(kinds) > 1 else "of the kind ") + ", ".join(kinds))
    if codes := listed("organisation_ids"):
        who.append("with the codes " + ", ".join(codes))
    if cycle := get("not_signed_off_in"):
        who.append(f"whose {cycle} return is not signed off yet")
    return "the leads of organisations " + " and ".join(who) if who else "every mapping lead"
