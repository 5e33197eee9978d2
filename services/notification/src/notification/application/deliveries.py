"""The delivery log (the national team and auditors): who was sent what, when, why and how it
went, and putting a failed email back in the queue.

No link or token is ever shown: they are made when the email is written and kept nowhere, and
the stored template context (which holds the ids links are made from) is not part of any view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from csm_kernel.clock import Clock
from csm_kernel.errors import InvalidInput, NotFound
from csm_kernel.observability import get_logger

from ..domain.notification import check_retryable
from .ports import Delivery, DeliveryFilter, DeliveryLog

log = get_logger(__name__)

STATUSES = ("pending", "sent", "failed")


def notification_view(delivery: Delivery) -> dict[str, Any]:
    """One delivery as the log shows it."""
    view = dataclasses.asdict(delivery)
    if view["status"] != "pending":
        view["next_attempt_at"] = None  # only meaningful while it waits
    return view


def _key(delivery: Delivery) -> tuple[datetime, str]:
    return delivery.created_at, delivery.id


def cursor(delivery: Delivery) -> str:
    return f"{delivery.created_at.isoformat()}/{delivery.id}"


def parse_cursor(value: str, field: str = "before") -> tuple[datetime, str]:
    at, _, nid = value.rpartition("/")
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or not nid:
        raise InvalidInput.field(field, "not a cursor: pass the `next` or `previous` of a page")
    return parsed, nid


class Deliveries:
    """Reading the delivery log; retrying a failed email."""

    def __init__(self, log_: DeliveryLog, clock: Clock, wake_sender: Callable[[], None]) -> None:
        self._log = log_
        self._clock = clock
        self._wake_sender = wake_sender

    async def page(
        self, where: DeliveryFilter, before: str | None, limit: int, after: str | None = None
    ) -> dict[str, Any]:
        """Deliveries, newest first: the page older than `before`, or the page just newer than
        `after` (going back). `next` and `previous` are the cursors either way (null at the
        end and at the start)."""
        if before and after:
            raise InvalidInput.field("after", "give `before` or `after`, not both")
        if after:
            rows = await self._log.page(where, None, limit + 1, after=parse_cursor(after, "after"))
            page = rows[-limit:]
            has_previous = len(rows) > limit
            has_next = bool(page) and bool(await self._log.page(where, _key(page[-1]), 1))
        else:
            rows = await self._log.page(where, parse_cursor(before) if before else None, limit + 1)
            page = rows[:limit]
            has_next = len(rows) > limit
            # Only a page reached by a cursor can have newer ones before it.
            has_previous = bool(before and page) and bool(
                await self._log.page(where, None, 1, after=_key(page[0]))
            )
        return {
            "items": [notification_view(r) for r in page],
            "next": cursor(page[-1]) if has_next else None,
            "previous": cursor(page[0]) if has_previous else None,
        }

    async def summary(
        self, organisation_id: str | None, since: datetime | None, failures: int
    ) -> dict[str, Any]:
        """How many emails of each kind are pending, sent and failed; the latest failures, and
        the pending ones that have already failed an attempt (the server refusing for now)."""
        counts = await self._log.counts(organisation_id, since)
        failed = await self._log.failed(organisation_id, since, failures)
        retrying = await self._log.retrying(organisation_id, since)
        by_kind: dict[str, dict[str, int]] = {}
        totals = dict.fromkeys(STATUSES, 0)
        for c in counts:
            kind_counts = by_kind.setdefault(c.kind, dict.fromkeys(STATUSES, 0))
            kind_counts[c.status] = c.count
            totals[c.status] = totals.get(c.status, 0) + c.count
        return {
            "totals": totals,
            "by_kind": by_kind,
            "pending_with_errors": retrying,
            "failed": [notification_view(r) for r in failed],
        }

    async def get(self, notification_id: str) -> dict[str, Any]:
        delivery = await self._log.get(notification_id)
        if delivery is None:
            raise NotFound(f"no notification {notification_id}")
        return notification_view(delivery)

    async def retry(self, notification_id: str, actor: str) -> dict[str, Any]:
        """A failed email back to `pending`, due now, with a fresh set of attempts (its
        earlier ones are in its `NotificationFailed` event). Its next outcome becomes its
        stream's next event. Only a failed one: a sent email is never sent again from here."""
        async with self._log.transaction() as conn:
            status = await self._log.status_for_update(conn, notification_id)
            if status is None:
                raise NotFound(f"no notification {notification_id}")
            check_retryable(notification_id, status)
            updated = await self._log.requeue(conn, notification_id, self._clock.now())
        log.info("notification retry requested", notification_id=notification_id, by=actor)
        self._wake_sender()
        return notification_view(updated)
