"""The words pages use for the services' codes: organisation kinds and regions by their proper
names, yes and no for true and false, and any other code ("in-progress", "age_0_4") as a
sentence-case phrase. One vocabulary, so a kind or region reads the same on every page."""

from __future__ import annotations

import re
from collections.abc import Mapping

from csm_contracts.events import OrganisationKind, Region

from .dates import gov_datetime
from .numbers import money, thousands

KIND_NAMES: dict[str, str] = {
    OrganisationKind.PCT: "Primary care trust",
    OrganisationKind.PCT_COMMISSIONING: "Primary care trust (commissioning)",
    OrganisationKind.PCT_PROVIDER: "Primary care trust (provider)",
    OrganisationKind.LOCAL_AUTHORITY: "Local authority",
    OrganisationKind.NHS_TRUST_ACUTE: "NHS acute trust",
    OrganisationKind.NHS_TRUST_MENTAL_HEALTH: "NHS mental health trust",
    OrganisationKind.NHS_TRUST_COMMUNITY: "NHS community trust",
    OrganisationKind.NHS_TRUST_AMBULANCE: "NHS ambulance trust",
    OrganisationKind.THIRD_SECTOR: "Third sector organisation",
    OrganisationKind.PRIVATE_PROVIDER: "Private provider",
}

REGION_NAMES: dict[str, str] = {
    Region.NORTH_EAST: "North East",
    Region.NORTH_WEST: "North West",
    Region.YORKSHIRE_AND_THE_HUMBER: "Yorkshire and the Humber",
    Region.EAST_MIDLANDS: "East Midlands",
    Region.WEST_MIDLANDS: "West Midlands",
    Region.EAST_OF_ENGLAND: "East of England",
    Region.LONDON: "London",
    Region.SOUTH_EAST: "South East",
    Region.SOUTH_WEST: "South West",
}

#: Words in codes that keep their capitals ("camhs" -> "CAMHS").
_ACRONYMS = {"camhs": "CAMHS", "nhs": "NHS", "pct": "PCT", "ni": "NI", "la": "LA", "csv": "CSV"}


def yes_no(value: object) -> str:
    """True and False (and "true"/"false") as Yes and No; anything else as it is."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return "Yes" if value.lower() == "true" else "No"
    return "" if value is None else str(value)


def kind_name(kind: object) -> str:
    """An organisation kind's proper name ("pct" -> "Primary care trust")."""
    return KIND_NAMES.get(str(kind), label(kind))


def region_name(region: object) -> str:
    """A region's proper name ("north-west" -> "North West")."""
    return REGION_NAMES.get(str(region), label(region))


def label(code: object) -> str:
    """A code as words: kinds and regions by name, booleans as Yes or No, anything else in
    sentence case ("in-progress" -> "In progress", "age_0_4" -> "Age 0 to 4")."""
    if code is None:
        return ""
    if isinstance(code, bool):
        return yes_no(code)
    text = str(code)
    if text in KIND_NAMES:
        return KIND_NAMES[text]
    if text in REGION_NAMES:
        return REGION_NAMES[text]
    words = text.replace("-", " ").replace("_", " ").split()
    if len(words) == 3 and words[1].isdigit() and words[2].isdigit():
        words = [words[0], words[1], "to", words[2]]  # an age band, "age_0_4"
    out = [_ACRONYMS.get(w.lower(), w) for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def option_label(options: Mapping[str, str], value: object) -> str:
    """A chosen option's label from a question's options (its value when unknown); a list of
    them joined with commas; yes/no for booleans."""
    if isinstance(value, list):
        return ", ".join(option_label(options, v) for v in value)
    if isinstance(value, bool):
        return yes_no(value)
    if value is None:
        return ""
    return options.get(str(value), str(value))


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_CODE = re.compile(r"^(?=[a-z0-9_-]*[a-z])[a-z0-9]+(?:[_-][a-z0-9]+)+$")
#: Columns of money, by a word in their key.
_MONEY_KEYS = ("investment", "spend", "cost", "budget", "funding")
#: Columns whose numbers are not quantities (a year is not "2,009").
_PLAIN_KEYS = ("year", "cycle", "code", "version")


def shown_value(value: object, key: str = "") -> str:
    """A value in a report's table as people read it, its column's key telling money from
    counts: kinds and regions by name, codes as words, numbers with separators, Yes and No."""
    if value is None:
        return "\u2013"  # an en dash: nothing to show
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, int | float):
        if any(w in key for w in _PLAIN_KEYS):
            return str(value)
        return money(value) if any(w in key for w in _MONEY_KEYS) else thousands(value)
    text = str(value)
    if _TIMESTAMP.match(text):
        return gov_datetime(text)
    if key == "kind" or text in KIND_NAMES:
        return kind_name(text)
    if key == "region" or text in REGION_NAMES:
        return region_name(text)
    if _CODE.match(text):
        return label(text)
    return text
