"""A bulletin before it is sent: how many mapping leads it would reach and the email as the
first of them would receive it. Nothing is stored and no email recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.bulletin_schedule import check_send_at
from ..domain.bulletins import BulletinFilter, bulletin_intents, check, check_known
from ..domain.notification import Kind
from .bulletins import Bulletins
from .templates import render


async def preview_bulletin(
    bulletins: Bulletins,
    subject: str,
    body: str,
    filter: BulletinFilter | None,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    """`recipients` (distinct addresses, as publishing counts them), `filter`, and the first
    lead's email (`to`, `subject`, `text`, `html`). The same `InvalidInput` as publishing
    (naming the field) for what publishing would refuse, a filter no lead matches now and a
    `send_at` not in the future included."""
    audience = filter or BulletinFilter()
    subject, body = check(subject, body, audience)
    if send_at is not None:
        check_send_at(send_at, bulletins.clock.now())
    wanted = audience.as_dict()
    async with bulletins.store.transaction() as conn:
        if wanted["organisation_ids"]:
            known = await bulletins.store.known_organisations(conn, wanted["organisation_ids"])
            check_known(wanted["organisation_ids"], known)
        leads = await bulletins.store.recipients(
            conn,
            wanted["regions"],
            wanted["kinds"],
            wanted["organisation_ids"],
            wanted.get("not_signed_off_in"),
        )
    intents = bulletin_intents("preview", subject, body, leads)
    first = intents[0]
    written = render(Kind.BULLETIN, first.context)
    return {
        "recipients": len({i.recipient.lower() for i in intents}),
        "filter": wanted,
        "send_at": send_at.isoformat() if send_at is not None else None,
        "to": first.recipient,
        "subject": written.subject,
        "text": written.text,
        "html": written.html,
    }
