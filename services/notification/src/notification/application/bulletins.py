"""The e-bulletin: news the national team writes, emailed to every mapping lead or to those of
the organisations a filter picks (by region, by kind, by code; the filters combine), now or at
a moment it chooses.

Sending records one email per lead in the transaction that marks the bulletin sent, caused by
`bulletin/<id>`: a person who leads several organisations gets it once (the dedupe key is per
recipient address), and the sender delivers the rest in its own time. A scheduled bulletin
stores its filter; its recipients are worked out when it is sent, by the scheduler (`run_due`,
every replica, one run at a time under an advisory lock, each due bulletin's row locked) or by
"send now". Its emails and its `sent` state commit together, so across replicas and restarts it
is sent once. `domain.bulletins` holds what a bulletin may say and its emails,
`domain.bulletin_schedule` when it may be sent and what may be done to it.

Bulletins are state, not an event stream (as before scheduling): each email's outcome is the
service's event (`NotificationSent`, `NotificationFailed`), caused by `bulletin/<id>`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from csm_kernel.clock import Clock
from csm_kernel.database import Connection
from csm_kernel.errors import NotFound
from csm_kernel.health import LoopMonitor
from csm_kernel.observability import get_logger, traced_work

from ..domain.bulletin_schedule import BulletinStatus, check_changeable, check_send_at
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

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["MAX_BODY", "MAX_SUBJECT", "BulletinFilter", "Bulletins", "paragraphs"]

log = get_logger(__name__)

_LIST_LIMIT = 200
#: Who sent a scheduled bulletin when its time came.
SCHEDULER = "notification:bulletin-scheduler"


class Bulletins:
    """Publishing e-bulletins now or later, sending those due, and listing them."""

    def __init__(
        self,
        store: BulletinStore,
        intents: Intents,
        clock: Clock,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.store = store
        self.intents = intents
        self.clock = clock
        self._tracer_provider = tracer_provider

    async def publish(
        self,
        subject: str,
        body: str,
        filter: BulletinFilter | None,
        actor: str,
        send_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Store the bulletin and, unless it is for later (`send_at`), record its emails; its
        id, status and how many leads it went to (None while scheduled). `InvalidInput`
        (naming the field) for an empty subject or body, an unknown region or kind, an unknown
        organisation, a filter no lead matches (sent now), or a `send_at` not in the future."""
        audience = filter or BulletinFilter()
        subject, body = check(subject, body, audience)
        now = self.clock.now()
        if send_at is not None:
            check_send_at(send_at, now)
        bulletin_id = str(uuid.uuid4())
        wanted = audience.as_dict()
        async with self.store.transaction() as conn:
            if wanted["organisation_ids"]:
                known = await self.store.known_organisations(conn, wanted["organisation_ids"])
                check_known(wanted["organisation_ids"], known)
            # Stored as waiting first, so that sending now and sending later are one path.
            record = BulletinRecord(
                bulletin_id, subject, body, wanted, None, now, actor,
                status=BulletinStatus.SCHEDULED, send_at=send_at,
            )  # fmt: skip
            await self.store.add(conn, record)
            if send_at is None:
                recipients = await self._send(conn, record, now, actor, strict=True)
                record = replace(
                    record, status=BulletinStatus.SENT, recipients=recipients, sent_at=now
                )
            # else nothing is resolved now: who it reaches is decided when it goes.
        log.info(
            "bulletin published",
            bulletin=bulletin_id,
            status=record.status,
            recipients=record.recipients,
            send_at=send_at.isoformat() if send_at else None,
            actor=actor,
        )
        return {
            "id": bulletin_id,
            "subject": subject,
            "filter": wanted,
            "status": str(record.status),
            "send_at": _iso(send_at),
            "recipients": record.recipients,
            "created_at": now.isoformat(),
            "created_by": actor,
        }

    async def _send(
        self, conn: Connection, bulletin: BulletinRecord, now: datetime, actor: str, strict: bool
    ) -> int:
        """Work out the bulletin's recipients now, record their emails and mark it sent, on
        `conn` (the bulletin's row locked): how many addresses. `strict`: a filter no lead
        matches is refused (`InvalidInput`) rather than sent to nobody."""
        f = bulletin.filter
        leads = await self.store.recipients(
            conn, f["regions"], f["kinds"], f["organisation_ids"], f.get("not_signed_off_in")
        )
        if leads or strict:
            intents = bulletin_intents(bulletin.id, bulletin.subject, bulletin.body, leads)
            # One email per address: leading two organisations does not make two.
            recipients = await self.intents.record(conn, intents, now)
        else:
            # Its time came and nobody matched (all signed off, say): it is done, to no one,
            # and the list says so, rather than a run refusing it at every tick.
            recipients = 0
        await self.store.mark_sent(conn, bulletin.id, recipients, now, actor)
        return recipients

    # --- scheduled bulletins -----------------------------------------------------------------

    async def run_due(self) -> int:
        """Send every scheduled bulletin whose time has come, in one transaction under the
        scheduler's lock; how many were sent. A run that found none makes no trace."""
        now = self.clock.now()
        with contextlib.ExitStack() as tracing:
            async with self.store.scheduler_run() as conn:
                due = await self.store.due(conn, now)
                if not due:
                    return 0
                tracing.enter_context(
                    traced_work(
                        "notification bulletins",
                        self._tracer_provider,
                        **{"csm.bulletins.due": len(due)},
                    )
                )
                sent = {b.id: await self._send(conn, b, now, SCHEDULER, strict=False) for b in due}
        for bulletin_id, recipients in sent.items():
            log.info("scheduled bulletin sent", bulletin=bulletin_id, recipients=recipients)
        return len(sent)

    async def run(
        self, stop: asyncio.Event, interval: float = 30, monitor: LoopMonitor | None = None
    ) -> None:
        """Run `run_due` every `interval` seconds until `stop` is set. A failed run is logged
        and tried again: a due bulletin stays due until a run commits it sent."""
        monitor = monitor or LoopMonitor("bulletins")
        while not stop.is_set():
            try:
                await self.run_due()
                monitor.beat()
            except Exception as exc:
                # The loop must outlive a failed run (the database away): a dead loop would
                # silently hold back every scheduled bulletin.
                monitor.failed(exc)
                log.exception("bulletin scheduler run failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def send_now(self, bulletin_id: str, actor: str) -> dict[str, Any]:
        """Send a scheduled bulletin before its time (its recipients worked out now). `NotFound`;
        `Conflict` if it was sent or cancelled meanwhile; `InvalidInput` if no lead matches now
        (it stays scheduled)."""
        now = self.clock.now()
        async with self.store.transaction() as conn:
            bulletin = await self._changeable(conn, bulletin_id)
            recipients = await self._send(conn, bulletin, now, actor, strict=True)
        log.info("bulletin sent early", bulletin=bulletin_id, recipients=recipients, actor=actor)
        return await self.get(bulletin_id)

    async def cancel(self, bulletin_id: str, actor: str) -> dict[str, Any]:
        """Cancel a scheduled bulletin: nothing is sent. `NotFound`; `Conflict` if it was sent
        or cancelled meanwhile."""
        now = self.clock.now()
        async with self.store.transaction() as conn:
            await self._changeable(conn, bulletin_id)
            await self.store.mark_cancelled(conn, bulletin_id, now, actor)
        log.info("bulletin cancelled", bulletin=bulletin_id, actor=actor)
        return await self.get(bulletin_id)

    async def _changeable(self, conn: Connection, bulletin_id: str) -> BulletinRecord:
        # The row lock waits out a scheduler run sending it, then sees what that run did.
        bulletin = await self.store.locked(conn, bulletin_id)
        if bulletin is None:
            raise NotFound(f"no bulletin {bulletin_id}")
        check_changeable(bulletin_id, bulletin.status)
        return bulletin

    # --- reading -----------------------------------------------------------------------------

    async def get(self, bulletin_id: str) -> dict[str, Any]:
        found = await self.store.get(bulletin_id)
        if found is None:
            raise NotFound(f"no bulletin {bulletin_id}")
        return _view(found)

    async def list(self, limit: int = _LIST_LIMIT) -> builtins.list[dict[str, Any]]:
        """Those waiting for their time (soonest first), then the rest (newest first), each
        with what became of its emails."""
        return [_view(b) for b in await self.store.latest(limit)]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _view(delivery: BulletinDelivery) -> dict[str, Any]:
    b = delivery.bulletin
    return {
        "id": b.id,
        "subject": b.subject,
        "body": b.body,
        "filter": b.filter,
        "status": b.status,
        "send_at": _iso(b.send_at),
        "recipients": b.recipients,
        "delivery": {"pending": delivery.pending, "sent": delivery.sent, "failed": delivery.failed},
        "created_at": b.created_at.isoformat(),
        "created_by": b.created_by,
        "sent_at": _iso(b.sent_at),
        "sent_by": b.sent_by,
        "cancelled_at": _iso(b.cancelled_at),
        "cancelled_by": b.cancelled_by,
    }
