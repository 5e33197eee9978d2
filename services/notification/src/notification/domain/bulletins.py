"""The e-bulletin, the rules: what a bulletin may say, to whom it goes, and its emails. Pure.

A person who leads several organisations gets it once: the emails share the cause
`bulletin/<id>`, and an intent's dedupe key is per recipient address.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from csm_contracts.events.registration import OrganisationKind, Region
from csm_kernel.errors import InvalidInput

from .notification import Intent, Kind

MAX_SUBJECT = 200
MAX_BODY = 50_000

_REGIONS = frozenset(r.value for r in Region)
_KINDS = frozenset(k.value for k in OrganisationKind)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_CYCLE = re.compile(r"^\d{4}-\d{2}$")


@dataclass(frozen=True)
class BulletinFilter:
    """Which leads a bulletin goes to. An empty list does not narrow; all empty: every lead."""

    regions: Sequence[str] = field(default_factory=tuple)
    kinds: Sequence[str] = field(default_factory=tuple)
    organisation_ids: Sequence[str] = field(default_factory=tuple)
    #: A cycle: only leads whose return for it is not signed off (None: whatever it is).
    not_signed_off_in: str | None = None

    def as_dict(self) -> dict[str, Any]:
        lists = {k: sorted(set(v)) for k, v in asdict(self).items() if k != "not_signed_off_in"}
        # The cycle only when chosen: a bulletin to "everyone" reads as it always has.
        if self.not_signed_off_in is None:
            return lists
        return {**lists, "not_signed_off_in": self.not_signed_off_in}


@dataclass(frozen=True)
class Recipient:
    """A mapping lead a bulletin goes to, with the organisation it leads."""

    organisation_id: str
    email: str
    name: str
    organisation_name: str


def paragraphs(body: str) -> list[list[str]]:
    """Plain text as the national team wrote it: paragraphs (split on blank lines), each a
    list of its lines. The HTML part escapes each line (no markup gets through)."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    return [
        [line.rstrip() for line in part.strip("\n").split("\n")]
        for part in _BLANK_LINES.split(text)
        if part.strip()
    ]


def check(subject: str, body: str, audience: BulletinFilter) -> tuple[str, str]:
    """The subject (whitespace folded) and body (stripped) to publish; `InvalidInput` naming
    the field for an empty or overlong one, or an unknown region or kind."""
    subject = " ".join(subject.split())
    if not subject:
        raise InvalidInput.field("subject", "write a subject")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput.field("subject", f"at most {MAX_SUBJECT} characters")
    if not body.strip():
        raise InvalidInput.field("body", "write the bulletin's text")
    if len(body) > MAX_BODY:
        raise InvalidInput.field("body", f"at most {MAX_BODY} characters")
    unknown = sorted(set(audience.regions) - _REGIONS)
    if unknown:
        raise InvalidInput.field(
            "filter.regions",
            f"unknown region(s) {', '.join(unknown)}; one of {', '.join(sorted(_REGIONS))}",
        )
    if audience.not_signed_off_in is not None and not _CYCLE.match(audience.not_signed_off_in):
        raise InvalidInput.field("filter.not_signed_off_in", "a cycle, like 2009-10")
    unknown = sorted(set(audience.kinds) - _KINDS)
    if unknown:
        raise InvalidInput.field(
            "filter.kinds",
            f"unknown organisation kind(s) {', '.join(unknown)}; one of "
            f"{', '.join(sorted(_KINDS))}",
        )
    return subject, body.strip()


def check_known(wanted: Sequence[str], known: Sequence[str]) -> None:
    """Every organisation a filter names must be registered."""
    missing = sorted(set(wanted) - set(known))
    if missing:
        raise InvalidInput.field(
            "filter.organisation_ids", f"unknown organisation(s) {', '.join(missing)}"
        )


def bulletin_intents(
    bulletin_id: str, subject: str, body: str, recipients: Sequence[Recipient]
) -> list[Intent]:
    """One email per lead the filter picked; `InvalidInput` when it picked none."""
    if not recipients:
        raise InvalidInput.field("filter", "no mapping lead matches: nobody to send to")
    parts = paragraphs(body)
    return [
        Intent(
            kind=Kind.BULLETIN,
            organisation_id=lead.organisation_id,
            recipient=lead.email,
            recipient_name=lead.name,
            cause=f"bulletin/{bulletin_id}",
            caused_by_type="bulletin",
            context={
                "subject": subject,
                "paragraphs": parts,
                "name": lead.name,
                "organisation_name": lead.organisation_name,
            },
        )
        for lead in recipients
    ]
