"""HTTP endpoints: the delivery log (the national team and auditors).

- `GET  /notifications`               who was sent what, when, why and how it went; newest first,
                                      filtered, a page at a time (`before`: the `next` cursor)
- `GET  /notifications/summary`       counts by kind and status, and the failures to look at
- `GET  /notifications/{id}`          one email: attempts, last error, SMTP code, its cause
- `POST /notifications/{id}/retry`    put a failed email back in the queue (national admin)

No link or token is ever shown: they are made when the email is written and kept nowhere, and
the stored template context (which holds the ids links are made from) is not part of any view.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, require
from csm_kernel.bounds import IDENTIFIER_LENGTH
from csm_kernel.clock import Clock, SystemClock
from csm_kernel.errors import Conflict, InvalidInput, NotFound
from csm_kernel.observability import get_logger
from csm_kernel.runtime import Runtime, runtime_of

if TYPE_CHECKING:
    from ...application.sender import Sender

log = get_logger(__name__)

router = APIRouter(tags=["deliveries"])

Reader = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN, Role.AUDITOR))]
Admin = Annotated[Principal, Depends(require(Role.NATIONAL_ADMIN))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]

Status = Literal["pending", "sent", "failed"]

_COLUMNS = """id, kind, organisation_id, recipient, recipient_name, status, attempts,
    next_attempt_at, last_error, smtp_code, subject, created_at, sent_at, caused_by,
    caused_by_type"""


def notification_view(row: asyncpg.Record) -> dict[str, Any]:
    """One delivery as the log shows it."""
    view = {k: row[k] for k in row.keys()}  # noqa: SIM118 (a Record is not a dict)
    if view["status"] != "pending":
        view["next_attempt_at"] = None  # only meaningful while it waits
    return view


def _cursor(row: asyncpg.Record) -> str:
    return f"{row['created_at'].isoformat()}/{row['id']}"


def _parse_cursor(before: str) -> tuple[datetime, str]:
    at, _, nid = before.rpartition("/")
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or not nid:
        raise InvalidInput.field("before", "not a cursor: pass the `next` of the previous page")
    return parsed, nid


@router.get("/notifications")
async def list_notifications(
    _: Reader,
    runtime: RuntimeDep,
    organisation_id: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    kind: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    status: Status | None = None,
    recipient: Annotated[str | None, Query(max_length=254)] = None,
    caused_by: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    before: Annotated[
        str | None, Query(max_length=200, description="the `next` cursor of a page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Deliveries, newest first. `next` is the cursor of the following page (null at the end)."""
    before_at, before_id = _parse_cursor(before) if before else (None, None)
    rows = await runtime.require_pool().fetch(
        f"""
        SELECT {_COLUMNS} FROM notifications
        WHERE ($1::text IS NULL OR organisation_id = $1)
          AND ($2::text IS NULL OR kind = $2)
          AND ($3::text IS NULL OR status = $3)
          AND ($4::text IS NULL OR lower(recipient) = lower($4))
          AND ($5::text IS NULL OR caused_by = $5)
          AND ($6::timestamptz IS NULL OR created_at >= $6)
          AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::text))
        ORDER BY created_at DESC, id DESC
        LIMIT $9
        """,
        organisation_id, kind, status, recipient, caused_by, since, before_at, before_id,
        limit + 1,
    )  # fmt: skip
    page = rows[:limit]
    return {
        "items": [notification_view(r) for r in page],
        "next": _cursor(page[-1]) if len(rows) > limit else None,
    }


@router.get("/notifications/summary")
async def summary(
    _: Reader,
    runtime: RuntimeDep,
    organisation_id: Annotated[str | None, Query(max_length=IDENTIFIER_LENGTH)] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    failures: Annotated[int, Query(ge=0, le=500, description="how many failures to list")] = 100,
) -> dict[str, Any]:
    """How many emails of each kind are pending, sent and failed; the latest failures, and the
    pending ones that have already failed an attempt (the SMTP server refusing for now)."""
    pool = runtime.require_pool()
    filters = """($1::text IS NULL OR organisation_id = $1)
                 AND ($2::timestamptz IS NULL OR created_at >= $2)"""
    counts = await pool.fetch(
        f"SELECT kind, status, count(*) AS count FROM notifications WHERE {filters} "
        "GROUP BY kind, status ORDER BY kind, status",
        organisation_id,
        since,
    )
    failed = await pool.fetch(
        f"SELECT {_COLUMNS} FROM notifications WHERE {filters} AND status = 'failed' "
        "ORDER BY created_at DESC, id DESC LIMIT $3",
        organisation_id,
        since,
        failures,
    )
    retrying = await pool.fetchval(
        f"SELECT count(*) FROM notifications WHERE {filters} AND status = 'pending' "
        "AND last_error IS NOT NULL",
        organisation_id,
        since,
    )
    by_kind: dict[str, dict[str, int]] = {}
    totals = {"pending": 0, "sent": 0, "failed": 0}
    for r in counts:
        kind_counts = by_kind.setdefault(r["kind"], {"pending": 0, "sent": 0, "failed": 0})
        kind_counts[r["status"]] = r["count"]
        totals[r["status"]] = totals.get(r["status"], 0) + r["count"]
    return {
        "totals": totals,
        "by_kind": by_kind,
        "pending_with_errors": retrying,
        "failed": [notification_view(r) for r in failed],
    }


@router.get("/notifications/{notification_id}")
async def get_notification(notification_id: str, _: Reader, runtime: RuntimeDep) -> dict[str, Any]:
    row = await runtime.require_pool().fetchrow(
        f"SELECT {_COLUMNS} FROM notifications WHERE id = $1", notification_id
    )
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    return notification_view(row)


@router.post("/notifications/{notification_id}/retry")
async def retry_notification(
    notification_id: str, admin: Admin, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    """A failed email back to `pending`, due now, with a fresh set of attempts (its earlier
    ones are in its `NotificationFailed` event). Its next outcome becomes its stream's next
    event. Only a failed one: a sent email is never sent again from here."""
    services = getattr(request.app.state, "services", None)
    clock: Clock = getattr(services, "clock", None) or SystemClock()
    pool = runtime.require_pool()
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT status FROM notifications WHERE id = $1 FOR UPDATE", notification_id
        )
        if row is None:
            raise NotFound(f"no notification {notification_id}")
        if row["status"] != "failed":
            raise Conflict(
                f"notification {notification_id} is {row['status']}: only a failed one is retried"
            )
        updated = await conn.fetchrow(
            f"UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = $2 "
            f"WHERE id = $1 RETURNING {_COLUMNS}",
            notification_id,
            clock.now(),
        )
    log.info("notification retry requested", notification_id=notification_id, by=admin.actor)
    sender: Sender | None = getattr(services, "sender", None)
    if sender is not None:
        sender.wake()
    assert updated is not None
    return notification_view(updated)
