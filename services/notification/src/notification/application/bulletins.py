"""The e-bulletin: news the national team writes, emailed to every mapping lead or to those of
the organisations a filter picks (by region, by kind, by code; the filters combine).

Publishing stores the bulletin and records one email per lead in one transaction, caused by
`bulletin/<id>`: a person who leads several organisations gets it once (the dedupe key is per
recipient address), and the sender delivers the rest in its own time.
"""

from __future__ import annotations

import builtins
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from csm_contracts.events.registration import OrganisationKind, Region
from csm_kernel.clock import Clock
from csm_kernel.errors import InvalidInput
from csm_kernel.observability import get_logger

from ..domain.notification import Intent, Kind
from .intents import record

log = get_logger(__name__)

MAX_SUBJECT = 200
MAX_BODY = 50_000
_LIST_LIMIT = 200

_REGIONS = frozenset(r.value for r in Region)
_KINDS = frozenset(k.value for k in OrganisationKind)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class BulletinFilter:
    """Which leads a bulletin goes to. An empty list does not narrow; all empty: every lead."""

    regions: Sequence[str] = field(default_factory=tuple)
    kinds: Sequence[str] = field(default_factory=tuple)
    organisation_ids: Sequence[str] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, list[str]]:
        return {k: sorted(set(v)) for k, v in asdict(self).items()}


def paragraphs(body: str) -> list[list[str]]:
    """Plain text as the national team wrote it: paragraphs (split on blank lines), each a
    list of its lines. The HTML part escapes each line (no markup gets through)."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    return [
        [line.rstrip() for line in part.strip("\n").split("\n")]
        for part in _BLANK_LINES.split(text)
        if part.strip()
    ]


def _check(subject: str, body: str, audience: BulletinFilter) -> tuple[str, str]:
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
    unknown = sorted(set(audience.kinds) - _KINDS)
    if unknown:
        raise InvalidInput.field(
            "filter.kinds",
            f"unknown organisation kind(s) {', '.join(unknown)}; one of "
            f"{', '.join(sorted(_KINDS))}",
        )
    return subject, body.strip()


#: The leads a filter picks. An organisation row may lag its lead (they come from different
#: events), so with no region or kind filter a lead is picked without one.
_RECIPIENTS = """
SELECT l.organisation_id, l.email, l.name, COALESCE(o.name, l.organisation_id) AS org_name
FROM leads l
LEFT JOIN organisations o ON o.code = l.organisation_id
WHERE (cardinality($1::text[]) = 0 OR o.region = ANY($1))
  AND (cardinality($2::text[]) = 0 OR o.kind = ANY($2))
  AND (cardinality($3::text[]) = 0 OR l.organisation_id = ANY($3))
ORDER BY l.organisation_id
"""


class Bulletins:
    """Publishing e-bulletins and listing those published."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock

    async def publish(
        self,
        subject: str,
        body: str,
        filter: BulletinFilter | None,
        actor: str,
    ) -> dict[str, Any]:
        """Store the bulletin and record its emails; its id and how many leads it goes to.
        `InvalidInput` (naming the field) for an empty subject or body, an unknown region or
        kind, an unknown organisation, or a filter no lead matches."""
        audience = filter or BulletinFilter()
        subject, body = _check(subject, body, audience)
        now = self.clock.now()
        bulletin_id = str(uuid.uuid4())
        wanted = audience.as_dict()
        async with self.pool.acquire() as conn, conn.transaction():
            if wanted["organisation_ids"]:
                known = await conn.fetch(
                    "SELECT code FROM organisations WHERE code = ANY($1::text[])",
                    wanted["organisation_ids"],
                )
                missing = sorted(set(wanted["organisation_ids"]) - {r["code"] for r in known})
                if missing:
                    raise InvalidInput.field(
                        "filter.organisation_ids", f"unknown organisation(s) {', '.join(missing)}"
                    )
            leads = await conn.fetch(
                _RECIPIENTS, wanted["regions"], wanted["kinds"], wanted["organisation_ids"]
            )
            if not leads:
                raise InvalidInput.field("filter", "no mapping lead matches: nobody to send to")
            parts = paragraphs(body)
            intents = [
                Intent(
                    kind=Kind.BULLETIN,
                    organisation_id=lead["organisation_id"],
                    recipient=lead["email"],
                    recipient_name=lead["name"],
                    cause=f"bulletin/{bulletin_id}",
                    caused_by_type="bulletin",
                    context={
                        "subject": subject,
                        "paragraphs": parts,
                        "name": lead["name"],
                        "organisation_name": lead["org_name"],
                    },
                )
                for lead in leads
            ]
            # One email per address: leading two organisations does not make two.
            recipients = await record(conn, intents, now)
            await conn.execute(
                """
                INSERT INTO bulletins (id, subject, body, filter, recipients, created_at,
                                       created_by)
                VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                """,
                bulletin_id,
                subject,
                body,
                json.dumps(wanted),
                recipients,
                now,
                actor,
            )
        log.info("bulletin published", bulletin=bulletin_id, recipients=recipients, actor=actor)
        return {
            "id": bulletin_id,
            "subject": subject,
            "filter": wanted,
            "recipients": recipients,
            "created_at": now.isoformat(),
            "created_by": actor,
        }

    async def list(self, limit: int = _LIST_LIMIT) -> builtins.list[dict[str, Any]]:
        """The bulletins published, newest first, each with what became of its emails."""
        rows = await self.pool.fetch(
            """
            SELECT b.*,
                   count(n.id) FILTER (WHERE n.status = 'pending') AS pending,
                   count(n.id) FILTER (WHERE n.status = 'sent') AS sent,
                   count(n.id) FILTER (WHERE n.status = 'failed') AS failed
            FROM (SELECT * FROM bulletins ORDER BY created_at DESC, seq DESC LIMIT $1) b
            LEFT JOIN notifications n
                   ON n.kind = 'bulletin' AND n.caused_by = 'bulletin/' || b.id
            GROUP BY b.id, b.subject, b.body, b.filter, b.recipients, b.created_at,
                     b.created_by, b.seq
            ORDER BY b.created_at DESC, b.seq DESC
            """,
            limit,
        )
        return [_view(r) for r in rows]


def _view(row: Any) -> dict[str, Any]:
    created_at: datetime = row["created_at"]
    return {
        "id": row["id"],
        "subject": row["subject"],
        "body": row["body"],
        "filter": json.loads(row["filter"]),
        "recipients": row["recipients"],
        "delivery": {"pending": row["pending"], "sent": row["sent"], "failed": row["failed"]},
        "created_at": created_at.isoformat(),
        "created_by": row["created_by"],
    }
