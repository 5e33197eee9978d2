"""Sends the recorded notifications over SMTP, each exactly once, and records each outcome.

Exactly once
------------
An email is recorded as an intent (a `notifications` row) in the same transaction as the
consumer's tracking row, under a unique dedupe key, so a redelivered or replayed cause finds its
row and makes none. From there, one batch at a time:

1. a transaction claims up to `batch` due rows (`status = 'pending' AND next_attempt_at <= now`)
   with `FOR UPDATE SKIP LOCKED`, so another sender (another replica) skips them;
2. each is written (`complete_context`, then the templates) and handed to the SMTP server over
   one open connection (or a few, `connections`);
3. in that same transaction, the rows the server accepted become `sent` and each gets a
   `NotificationSent` event (stream `notification-<id>`) through the event store's outbox; the
   rest get their outcome (below); then it commits.

So a row is `sent` if and only if the server accepted its email and its event was stored. The
one unavoidable window: the server accepted an email and the process died (or lost the
database) before the commit. The row is still `pending` with no event, and after a restart it is
sent again: that email arrives twice. No protocol closes this window (SMTP has no two-phase
commit); it lasts from the server's `250` to the commit, a few milliseconds to the batch's
length. Both copies carry the same Message-ID (`<notification id@csm.local>`) and
`X-CSM-Notification` header, so a receiving system or a person can recognise the repeat. The
window also opens if the connection drops after the message's data went out but before the
server's reply: counted as a failed attempt, retried, perhaps delivered twice, same Message-ID.

Everything else happens at most once: a failure is recorded before a retry, and nothing
that happens after the server's acceptance (bookkeeping, an event conflict) ever sends again.

Outcomes
--------
- accepted: `sent`, `sent_at`, `attempts + 1`, the subject, `NotificationSent`.
- refused for good (5xx to RCPT/DATA, an unusable address, a template that cannot be written):
  `failed` at once, with the code and reason, and `NotificationFailed`.
- failed for now (4xx, a timeout, a drop mid-message): `attempts + 1`, `next_attempt_at` from
  `next_attempt` (5 s doubling to 15 min), `last_error`; after `max_attempts` it is `failed`
  with `NotificationFailed`.
- the server cannot be reached at all: no email was handed over, so no attempt is counted
  (an outage of any length loses nothing); the batch's untried rows note the error and stay
  due, and `run` backs off (0.5 s doubling to 30 s) until the server answers.

A failed notification can be put back to `pending` by the national team (the delivery log's
retry); its stream then gets a second outcome, which is why events are appended at the stream's
current version rather than at 0.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import TYPE_CHECKING, Any

import jinja2

from csm_contracts.events.notifications import NotificationFailed, NotificationSent
from csm_kernel.clock import Clock
from csm_kernel.database import Connection
from csm_kernel.health import LoopMonitor
from csm_kernel.links import LinkTokens
from csm_kernel.observability import get_logger, traced_work
from csm_kernel.settings import ServiceSettings
from csm_kernel.store.base import AppendContext
from csm_kernel.text import scrub_text

from ..domain.notification import Outcome, next_attempt, outcome_of
from .links import LinkKeyMissing, complete_context
from .ports import (
    Due,
    Failure,
    MailConnection,
    MailFailure,
    MailUnavailable,
    OutcomeEvent,
    Queue,
    QueueUnavailable,
    SendingMetrics,
)
from .templates import Rendered, render

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = get_logger(__name__)

ACTOR = "service:notification"


@dataclass
class _Result:
    """What became of one claimed email."""

    subject: str | None = None
    sent: bool = False
    failure: MailFailure | None = None


@dataclass
class Batch:
    """What one `send_batch` did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    #: Why the server could not be reached, when it could not (untried rows stay due).
    unavailable: str | None = None
    #: Emails sent, and attempts failed (deferred or for good), by kind.
    sent_by_kind: Counter[str] = field(default_factory=Counter)
    failed_by_kind: Counter[str] = field(default_factory=Counter)


class NoMetrics:
    """`SendingMetrics` that counts nothing (a sender built without metrics)."""

    def sent(self, kind: str, count: int) -> None:
        pass

    def failed(self, kind: str, count: int) -> None:
        pass


class Sender:
    """Sends due notifications in batches; `run` loops until told to stop."""

    def __init__(
        self,
        queue: Queue,
        connections: Sequence[MailConnection],
        settings: ServiceSettings,
        clock: Clock,
        tokens: LinkTokens | None,
        *,
        batch: int = 100,
        max_attempts: int = 8,
        idle_seconds: float = 0.25,
        max_backoff_seconds: float = 30.0,
        metrics: SendingMetrics | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._queue = queue
        self._metrics: SendingMetrics = metrics or NoMetrics()
        self._tracer_provider = tracer_provider
        self._settings = settings
        self._clock = clock
        self._tokens = tokens
        self._batch = batch
        self._max_attempts = max_attempts
        self._idle_seconds = idle_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._in_flight: asyncio.Future[Batch] | None = None
        self._from_header = from_header(settings.mail_from)
        self._envelope_sender = parseaddr(settings.mail_from)[1] or settings.mail_from
        # Each connection is one SMTP conversation, driven by one coroutine at a time. Without
        # pipelining (aiosmtplib has none) an email is four round trips; a few sessions at once
        # keep the server busy through them (bench/notification_reminders.py: on the embedded
        # sink 1 session gave ~225 emails/s, 2 ~315-355, 4 ~345-395).
        self.connections: list[MailConnection] = list(connections)

    def wake(self) -> None:
        """Look for due notifications now rather than at the next poll (e.g. after a retry)."""
        self._wake.set()

    async def send_due(self) -> int:
        """Send one batch of due notifications; how many the server accepted."""
        return (await self.send_batch()).sent

    async def send_batch(self) -> Batch:
        """Claim, send and record one batch (see the module docstring). A batch that found
        work is one trace, from its first email to its commit; an empty poll makes none."""
        outcome = Batch()
        with contextlib.ExitStack() as tracing:
            async with self._queue.claim(self._clock.now(), self._batch) as (conn, due):
                if not due:
                    return outcome
                span = tracing.enter_context(
                    traced_work(
                        "notification send",
                        self._tracer_provider,
                        **{"csm.notifications.claimed": len(due)},
                    )
                )
                outcome.claimed = len(due)
                results, unavailable = await self._deliver(due, self.connections)
                outcome.unavailable = unavailable
                await self._record(conn, due, results, outcome)
                if unavailable is not None:
                    untried = [d.id for d in due if d.id not in results]
                    await self._queue.note_untried(
                        conn, untried, f"waiting: SMTP server unavailable: {unavailable}"
                    )
            span.set_attributes(
                {
                    "csm.notifications.sent": outcome.sent,
                    "csm.notifications.failed": outcome.failed,
                    "csm.notifications.deferred": outcome.deferred,
                }
            )
        # Counted once committed: a batch rolled back is tried again and counted then.
        for kind, count in outcome.sent_by_kind.items():
            self._metrics.sent(kind, count)
        for kind, count in outcome.failed_by_kind.items():
            self._metrics.failed(kind, count)
        if outcome.failed or outcome.deferred or unavailable:
            log.info(
                "notification batch",
                sent=outcome.sent,
                failed=outcome.failed,
                deferred=outcome.deferred,
                unavailable=unavailable,
            )
        return outcome

    async def _deliver(
        self, due: Sequence[Due], connections: Sequence[MailConnection]
    ) -> tuple[dict[str, _Result], str | None]:
        """Write and send each row, over the connections at once; stops taking new rows as
        soon as the server cannot be reached. Rows not tried are absent from the results."""
        results: dict[str, _Result] = {}
        queue = list(reversed(due))
        unavailable: list[str] = []

        async def work(connection: MailConnection) -> None:
            while queue and not unavailable:
                row = queue.pop()
                result = _Result()
                try:
                    msg, result.subject = self._write(row)
                except LinkKeyMissing as exc:  # configuration: fixable, so not for good
                    result.failure = MailFailure(f"cannot write the email: {exc}")
                    results[row.id] = result
                    continue
                except (jinja2.TemplateError, KeyError, ValueError, TypeError) as exc:
                    reason = f"cannot write the email: {type(exc).__name__}: {exc}"
                    result.failure = MailFailure(reason, permanent=True)
                    results[row.id] = result
                    continue
                except Exception as exc:
                    # Not this email's fault as far as we know (a fault of ours): try again.
                    # Never let it escape: the batch would roll back, and the emails the server
                    # already accepted in it would go out a second time.
                    log.exception("could not write a notification", notification_id=row.id)
                    result.failure = MailFailure(f"cannot write the email: {exc!r}")
                    results[row.id] = result
                    continue
                try:
                    await connection.send(
                        msg, sender=self._envelope_sender, recipient=row.recipient
                    )
                    result.sent = True
                except MailUnavailable as exc:
                    unavailable.append(exc.reason)
                    return  # this row was not handed over: it stays due, untouched
                except MailFailure as exc:
                    result.failure = exc
                except Exception as exc:  # as above: record it, never roll the batch back
                    log.exception("could not send a notification", notification_id=row.id)
                    result.failure = MailFailure(f"could not send: {exc!r}")
                results[row.id] = result

        await asyncio.gather(*(work(c) for c in connections))
        return results, (unavailable[0] if unavailable else None)

    def _write(self, row: Due) -> tuple[bytes, str]:
        context = dict(row.context)
        if row.recipient_name is not None:
            context.setdefault("name", row.recipient_name)
        context.setdefault("recipient", row.recipient)
        rendered = render(
            row.kind, complete_context(row.kind, context, self._settings, self._tokens)
        )
        raw = write_message(
            rendered,
            sender=self._from_header,
            to=row.recipient,
            notification_id=row.id,
            date=self._clock.now(),
        )
        return raw, rendered.subject

    async def _record(
        self,
        conn: Connection,
        due: Sequence[Due],
        results: dict[str, _Result],
        outcome: Batch,
    ) -> None:
        """Every tried row's outcome and its event, in the claiming transaction."""
        now = self._clock.now()
        sent: list[Due] = []
        failed: list[tuple[Due, _Result]] = []
        deferred: list[tuple[Due, _Result]] = []
        for row in due:
            result = results.get(row.id)
            if result is None:
                continue
            decided = outcome_of(
                accepted=result.sent,
                permanent=result.failure is not None and result.failure.permanent,
                attempts=row.attempts + 1,
                max_attempts=self._max_attempts,
            )
            if decided is Outcome.SENT:
                sent.append(row)
            elif decided is Outcome.FAILED:
                failed.append((row, result))
            else:
                deferred.append((row, result))
        if sent:
            await self._queue.mark_sent(conn, [(r.id, results[r.id].subject) for r in sent], now)
        if failed:
            await self._queue.mark_failed(
                conn, [Failure(r.id, _reason(res), _code(res), res.subject) for r, res in failed]
            )
        if deferred:
            await self._queue.mark_deferred(
                conn,
                [
                    Failure(
                        r.id,
                        _reason(res),
                        _code(res),
                        res.subject,
                        next_attempt(r.attempts + 1, now),
                    )
                    for r, res in deferred
                ],
            )
        events: list[tuple[Due, NotificationSent | NotificationFailed]] = []
        for row in sent:
            events.append((row, _sent_event(row, results[row.id], now)))
        for row, res in failed:
            events.append((row, _failed_event(row, res, now)))
        if events:
            await self._append(conn, events)
        outcome.sent = len(sent)
        outcome.failed = len(failed)
        outcome.deferred = len(deferred)
        outcome.sent_by_kind.update(r.kind for r in sent)
        outcome.failed_by_kind.update(r.kind for r, _ in (*failed, *deferred))

    async def _append(
        self, conn: Connection, events: Sequence[tuple[Due, NotificationSent | NotificationFailed]]
    ) -> None:
        """One event per row, each at its stream's current version (0 for a first outcome),
        each caused by what caused the email."""
        written = await self._queue.append_outcomes(
            conn,
            [
                OutcomeEvent(
                    row.stream_id,
                    payload,
                    AppendContext(
                        actor=ACTOR,
                        correlation_id=_correlation(row),
                        causation_id=row.caused_by,
                    ),
                )
                for row, payload in events
            ],
        )
        for (row, _), ok in zip(events, written, strict=True):
            if not ok:
                # Only a second writer of this stream could cause it, and the row lock keeps
                # every other sender away. The email went out: never undo that by rolling back
                # (the next pass would send it again). Record the state; report the gap.
                log.error("notification outcome event not appended", notification_id=row.id)

    async def run(self, stop: asyncio.Event, monitor: LoopMonitor | None = None) -> None:
        """Send until `stop` is set: straight on while batches come full, polling every
        `idle_seconds` when there is nothing due, backing off while the server (or the
        database) is away. Each pass is reported to `monitor`."""
        try:
            await self._loop(stop, monitor or LoopMonitor("sender"))
        finally:
            in_flight = self._in_flight
            if in_flight is not None and not in_flight.done():
                await asyncio.wait([in_flight])  # its commit, before the sessions close
                if not in_flight.cancelled() and in_flight.exception() is not None:
                    log.warning("last notification batch failed", error=repr(in_flight.exception()))
            await self.close()

    async def _loop(self, stop: asyncio.Event, monitor: LoopMonitor) -> None:
        delay = 0.5
        while not stop.is_set():
            wait = self._idle_seconds
            try:
                # Shielded: stopping (a cancel) lets the batch in hand finish and commit rather
                # than roll back emails the server has already accepted.
                self._in_flight = asyncio.ensure_future(self.send_batch())
                batch = await asyncio.shield(self._in_flight)
                if batch.unavailable is not None:
                    monitor.failed(f"SMTP server unavailable: {batch.unavailable}")
                    log.warning("SMTP server unavailable; will retry", error=batch.unavailable)
                    wait, delay = delay, min(delay * 2, self._max_backoff)
                else:
                    monitor.beat()
                    delay = 0.5
                    if batch.claimed >= self._batch:
                        continue
            except QueueUnavailable as exc:
                monitor.failed(exc)
                log.warning("notification store unavailable; will retry", error=str(exc))
                wait, delay = delay, min(delay * 2, self._max_backoff)
            except Exception as exc:
                # A fault of ours (a bug): keep the loop alive, the batch rolled back and is
                # tried again after the backoff, and say so loudly.
                monitor.failed(exc)
                log.exception("notification batch failed; will retry")
                wait, delay = delay, min(delay * 2, self._max_backoff)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self._wake), wait)

    async def close(self) -> None:
        """End the SMTP sessions."""
        for connection in self.connections:
            await connection.close()


def write_message(
    rendered: Rendered,
    *,
    sender: str,
    to: str,
    notification_id: str,
    date: datetime,
    domain: str = "csm.local",
) -> bytes:
    """The email as it goes over SMTP: the message `templates.message` describes (From, To,
    Subject, the notification's Message-ID and `X-CSM-Notification` header, plain-text and HTML
    alternatives) plus a Date, written straight to bytes.

    Why not `templates.message`: `EmailMessage` parses every header through the header registry
    and picks each part's encoding by trial, ~3 ms an email plus ~0.8 ms to flatten it, which
    alone held the sender to ~125 emails/s; the `email.mime` classes still take ~0.8 ms (every
    header folded through `Header`, a regex compiled per boundary). This takes ~0.1 ms: both
    parts UTF-8 in quoted-printable (binascii's C encoder; 7-bit, so any server takes it), the
    boundary `=_csm.<id>` (quoted-printable never writes `=_`, so no part can contain it), and
    only a subject or name that needs it RFC 2047-encoded. A test holds it to parse back to
    exactly what was rendered.
    """
    if any(c in value for value in (to, notification_id, domain) for c in "\r\n"):
        raise ValueError("a header value may not contain a line break")
    boundary = f"=_csm.{notification_id}"
    part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable'
    head = (
        f"{_header('From', sender)}To: {to}\r\n{_header('Subject', rendered.subject)}"
        f"Date: {format_datetime(date)}\r\nMessage-ID: <{notification_id}@{domain}>\r\n"
        f"X-CSM-Notification: {notification_id}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n{part.format('plain')}\r\n\r\n"
    )
    middle = f"\r\n--{boundary}\r\n{part.format('html')}\r\n\r\n"
    return b"".join(
        (
            head.encode(),
            _quoted_printable(rendered.text),
            middle.encode(),
            _quoted_printable(rendered.html),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


def from_header(mail_from: str) -> str:
    """The From value for `mail_from` ("Name <address>"), its name encoded if it needs it."""
    name, address = parseaddr(mail_from)
    return formataddr((name, address), charset="utf-8") if address else mail_from


def _header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} header may not contain a line break")
    if not value.isascii():
        encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
        return f"{name}: {encoded}\r\n"
    # Folded at spaces to keep lines within 78 characters (RFC 5322 2.1.1).
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > 78 and line.strip() and not line.endswith(":"):
            lines.append(line)
            line = ""
        line += f" {word}"
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _quoted_printable(text: str) -> bytes:
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


async def _first(*events: asyncio.Event) -> None:
    """Wait until any of the events is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def _correlation(row: Due) -> str:
    # The cause's correlation id when the intent kept it; else the cause itself, which ties the
    # outcome to the event (or schedule) that asked for the email.
    return str(row.context.get("correlation_id") or row.caused_by or row.id)


def _reason(result: _Result) -> str:
    # An SMTP server's reply is not ours: a NUL in it would fail the claiming transaction (text
    # columns), roll back emails the server had already accepted and send them again, for ever.
    assert result.failure is not None
    return scrub_text(result.failure.reason[:2000])


def _code(result: _Result) -> int | None:
    return result.failure.code if result.failure is not None else None


def _outcome(row: Due, result: _Result) -> dict[str, Any]:
    """What both outcome events say about the email."""
    return {
        "organisation_id": row.organisation_id,
        "notification_id": row.id,
        "kind": row.kind,
        "recipient": row.recipient,
        "subject": result.subject or "",
        "caused_by": row.caused_by,
        "caused_by_type": row.caused_by_type,
        "attempts": row.attempts + 1,
    }


def _sent_event(row: Due, result: _Result, now: datetime) -> NotificationSent:
    return NotificationSent(**_outcome(row, result), sent_at=now)


def _failed_event(row: Due, result: _Result, now: datetime) -> NotificationFailed:
    assert result.failure is not None
    return NotificationFailed(
        **_outcome(row, result),
        failed_at=now,
        reason=_reason(result),
        smtp_code=result.failure.code,
    )
