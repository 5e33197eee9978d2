"""The rules an organisation's details must keep, shared by the API and the bulk import.

Pure functions: they return `Problem`s (a field and a reason) instead of raising, so the bulk
import can report every problem of every row, and the API every problem of one request.

The rules:

- A code (the organisation's own, a partnership area's, a linked or mapping organisation's)
  is ODS-style: 3 to 5 capital letters and digits with at least one letter.
- A name is 1 to 200 characters once surrounding blanks are stripped.
- Third-sector and private providers are mapped by a lead organisation (`mapped_by`, a
  registered PCT, local authority or NHS trust); no other kind has one.
- Only the two parts of a split PCT (`pct-commissioning` and `pct-provider`) are linked, each to
  a part of the other kind; a part already linked to one organisation cannot be linked to
  another, and a link is never removed.
- Partnership areas are LA area codes. A local authority always belongs to its own area; no
  other organisation can name itself as an area. An area code that is a registered
  organisation's code must be a local authority's (codes of LAs not registered yet are taken
  on trust, so trusts can be loaded before the LAs whose arrangements they join).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from csm_contracts.events import OrganisationKind
from csm_contracts.events.registration import ORGANISATION_CODE_PATTERN
from csm_kernel.errors import InvalidInput

from .commands import RegisterOrganisation

_CODE = re.compile(ORGANISATION_CODE_PATTERN)

MAX_NAME_LENGTH = 200

#: Kinds that are mapped by a lead organisation rather than mapping themselves.
MAPPED_KINDS = frozenset({OrganisationKind.THIRD_SECTOR, OrganisationKind.PRIVATE_PROVIDER})

#: The two parts of a split PCT, each with the kind of the part it links to.
PCT_PARTS: Mapping[OrganisationKind, OrganisationKind] = {
    OrganisationKind.PCT_COMMISSIONING: OrganisationKind.PCT_PROVIDER,
    OrganisationKind.PCT_PROVIDER: OrganisationKind.PCT_COMMISSIONING,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request or a row: the field and why."""

    field: str
    reason: str

    def as_detail(self) -> dict[str, str]:
        """The `{"field", "reason"}` shape of an HTTP error's details."""
        return {"field": self.field, "reason": self.reason}


def invalid(problems: Iterable[Problem]) -> InvalidInput:
    """The 422 error that reports every problem."""
    found = list(problems)
    return InvalidInput(
        "; ".join(f"{p.field}: {p.reason}" for p in found),
        details=[p.as_detail() for p in found],
    )


class KnownOrganisation(Protocol):
    """What the reference checks need to know about another organisation."""

    @property
    def registered(self) -> bool: ...

    @property
    def kind(self) -> OrganisationKind | None: ...

    @property
    def linked_organisation_id(self) -> str | None: ...


def code_reason(value: str) -> str | None:
    """Why `value` is not an organisation code, or None if it is one."""
    if 3 <= len(value) <= 5 and _CODE.match(value):
        return None
    return (
        f"{value!r} is not an organisation code: use 3 to 5 capital letters and digits, "
        "with at least one letter (e.g. 5A4)"
    )


def name_reason(name: str) -> str | None:
    """Why `name` (already stripped) is not a usable name, or None."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters (this one has {len(name)})"
    return None


def normalise_areas(
    code: str, kind: OrganisationKind | None, areas: Iterable[str]
) -> tuple[str, ...]:
    """The areas as stored: without duplicates, sorted, and an LA's own area included."""
    found = set(areas)
    if kind is OrganisationKind.LOCAL_AUTHORITY:
        found.add(code)
    return tuple(sorted(found))


def area_problems(code: str, kind: OrganisationKind | None, areas: Iterable[str]) -> list[Problem]:
    """Problems with a list of partnership areas that need no other organisation's details."""
    problems = []
    for area in areas:
        reason = code_reason(area)
        if reason is not None:
            problems.append(Problem("partnership_areas", reason))
        elif area == code and kind is not OrganisationKind.LOCAL_AUTHORITY:
            problems.append(
                Problem(
                    "partnership_areas",
                    f"{area} is this organisation itself, and only a local authority is a "
                    "partnership area",
                )
            )
    return problems


def registration_problems(cmd: RegisterOrganisation) -> list[Problem]:
    """Everything wrong with a registration that can be seen without other organisations."""
    problems: list[Problem] = []
    reason = code_reason(cmd.code)
    if reason is not None:
        problems.append(Problem("code", reason))
    reason = name_reason(cmd.name.strip())
    if reason is not None:
        problems.append(Problem("name", reason))
    if cmd.kind in MAPPED_KINDS:
        if not cmd.mapped_by:
            problems.append(
                Problem(
                    "mapped_by",
                    f"a {cmd.kind.value} provider is mapped by a lead organisation: give the "
                    "lead organisation's code",
                )
            )
        elif cmd.mapped_by == cmd.code:
            problems.append(Problem("mapped_by", "an organisation cannot map itself"))
        elif (reason := code_reason(cmd.mapped_by)) is not None:
            problems.append(Problem("mapped_by", reason))
    elif cmd.mapped_by is not None:
        problems.append(
            Problem(
                "mapped_by",
                f"only third-sector and private providers are mapped by a lead organisation, "
                f"not a {cmd.kind.value}",
            )
        )
    link = cmd.linked_organisation_id
    if link is not None:
        if link == cmd.code:
            problems.append(
                Problem("linked_organisation_id", "an organisation cannot be linked to itself")
            )
        elif (reason := code_reason(link)) is not None:
            problems.append(Problem("linked_organisation_id", reason))
        elif cmd.kind not in PCT_PARTS:
            problems.append(
                Problem(
                    "linked_organisation_id",
                    "only the two parts of a split PCT are linked (kinds pct-commissioning and "
                    f"pct-provider), not a {cmd.kind.value}",
                )
            )
    problems.extend(area_problems(cmd.code, cmd.kind, cmd.partnership_areas))
    return problems


def without_repeats(found: Iterable[Problem], earlier: Iterable[Problem]) -> list[Problem]:
    """`found` less the problems with a field `earlier` already has a problem with (a code
    that is malformed is not also reported as unknown). Each area is its own question, so
    partnership-area problems are all kept."""
    fields = {p.field for p in earlier} - {"partnership_areas"}
    return [p for p in found if p.field not in fields]


def _registered(known: Mapping[str, KnownOrganisation], code: str) -> KnownOrganisation | None:
    found = known.get(code)
    return found if found is not None and found.registered else None


def area_reference_problems(
    code: str, areas: Iterable[str], known: Mapping[str, KnownOrganisation]
) -> list[Problem]:
    """Area codes that are registered organisations' codes must be local authorities'."""
    problems = []
    for area in areas:
        other = _registered(known, area) if area != code else None
        if other is not None and other.kind is not OrganisationKind.LOCAL_AUTHORITY:
            kind = other.kind.value if other.kind is not None else "organisation"
            problems.append(
                Problem(
                    "partnership_areas",
                    f"{area} is registered as a {kind}, not a local authority, so it is not a "
                    "partnership area",
                )
            )
    return problems


def reference_problems(
    cmd: RegisterOrganisation, known: Mapping[str, KnownOrganisation]
) -> list[Problem]:
    """Problems with the other organisations a registration names, given what is known of them
    (registered ones, and in an import the ones the same file registers)."""
    problems: list[Problem] = []
    lead_code = cmd.mapped_by
    if cmd.kind in MAPPED_KINDS and lead_code and lead_code != cmd.code:
        lead = _registered(known, lead_code)
        if lead is None:
            problems.append(
                Problem("mapped_by", f"no organisation with code {lead_code} is registered")
            )
        elif lead.kind in MAPPED_KINDS:
            kind = lead.kind.value if lead.kind is not None else "provider"
            problems.append(
                Problem(
                    "mapped_by",
                    f"{lead_code} is a {kind} provider itself; the lead organisation must be a "
                    "PCT, a local authority or an NHS trust",
                )
            )
    link = cmd.linked_organisation_id
    if link is not None and link != cmd.code and cmd.kind in PCT_PARTS:
        other = _registered(known, link)
        wanted = PCT_PARTS[cmd.kind]
        if other is None:
            problems.append(
                Problem(
                    "linked_organisation_id",
                    f"no organisation with code {link} is registered: register the other part "
                    "first, or both parts in one import",
                )
            )
        elif other.kind is not wanted:
            kind = other.kind.value if other.kind is not None else "organisation"
            problems.append(
                Problem(
                    "linked_organisation_id",
                    f"{link} is a {kind}; a {cmd.kind.value} part links only to a "
                    f"{wanted.value} part",
                )
            )
        elif other.linked_organisation_id not in (None, cmd.code):
            problems.append(
                Problem(
                    "linked_organisation_id",
                    f"{link} is already linked to {other.linked_organisation_id}; a link "
                    "cannot be changed",
                )
            )
    problems.extend(area_reference_problems(cmd.code, cmd.partnership_areas, known))
    return problems
