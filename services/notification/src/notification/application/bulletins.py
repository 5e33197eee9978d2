"""The e-bulletin: news the national team writes, emailed to every mapping lead or to those of
the organisations a filter picks (by region, by kind, by code; the filters combine).

Publishing stores the bulletin and records one email per lead in one transaction, caused by
`bulletin/<id>`: a person who leads several organisations gets it once (the dedupe key is per
recipient address), and the sender delivers the rest in its own time. `domain.bulletins` holds
what a bulletin may say and its emails.
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from csm_kernel.clock import Clock
from csm_kernel.observability import get_logger

from ..domain.bulletins import (
    MAX_BODY,
    MAX_SUBJECT,
    BulletinFilter,
    bulletin_intents,
    check,
    check_known,
    paragraphs,
)
from .ports import BulletinDelivery, BulletinRecord, BulletinStore, Intents

__all__ = ["MAX_BODY", "MAX_SUBJECT", "BulletinFilter", "Bulletins", "paragraphs"]

log = get_logger(__name__)

_LIST_LIMIT = 200


class Bulletins:
    """Publishing e-bulletins and listing those published."""

    def __init__(self, store: BulletinStore, intents: Intents, clock: Clock) -> None:
        self.store = store
        self.intents = intents
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
        subject, body = check(subject, body, audience)
        now = self.clock.now()
        bulletin_id = str(uuid.uuid4())
        wanted = audience.as_dict()
        async with self.store.transaction() as conn:
            if wanted["organisation_ids"]:
                known = await self.store.known_organisations(conn, wanted["organisation_ids"])
                check_known(wanted["organisation_ids"], known)
            leads = await self.store.recipients(
                conn,
                wanted["regions"],
                wanted["kinds"],
                wanted["organisation_ids"],
                wanted.get("not_signed_off_in"),
            )
            intents = bulletin_intents(bulletin_id, subject, body, leads)
            # One email per address: leading two organisations does not make two.
            recipients = await self.intents.record(conn, intents, now)
            await self.store.add(
                conn, BulletinRecord(bulletin_id, subject, body, wanted, recipients, now, actor)
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
        return [_view(b) for b in await self.store.latest(limit)]


def _view(delivery: BulletinDelivery) -> dict[str, Any]:
    b = delivery.bulletin
    return {
        "id": b.id,
        "subject": b.subject,
        "body": b.body,
        "filter": b.filter,
        "recipients": b.recipients,
        "delivery": {"pending": delivery.pending, "sent": delivery.sent, "failed": delivery.failed},
        "created_at": b.created_at.isoformat(),
        "created_by": b.created_by,
    }
