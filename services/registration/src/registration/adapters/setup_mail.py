"""Sends queued set-up links by email.

The link's token is made at the moment its mail is sent and only its digest is stored, so no
usable link ever rests in the database, an event or a log. The token is stored and the row
marked sent in one transaction that commits only after the SMTP server accepted the message;
if sending fails nothing is stored and the row is tried again with backoff. If the commit
itself fails after the mail went out, that link will not work and the person asks for another
(the one window at-least-once delivery leaves).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib

from csm_kernel.clock import Clock, SystemClock
from csm_kernel.observability import get_logger
from csm_kernel.runtime import Runtime
from csm_kernel.settings import ServiceSettings

from ..application.sign_in import digest

log = get_logger(__name__)

SETUP_LINK_LIFETIME = timedelta(hours=72)


def setup_message(settings: ServiceSettings, to: str, name: str, token: str) -> EmailMessage:
    link = f"{settings.portal_url.rstrip('/')}/account/set-up?token={token}"
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = "Set up your Children's Services Mapping account"
    msg.set_content(
        f"Dear {name},\n\n"
        "An account has been created for you on Children's Services Mapping.\n"
        "Choose your password here (the link works once, for 72 hours):\n\n"
        f"{link}\n\n"
        "If you were not expecting this, you can ignore this email.\n"
    )
    return msg


async def send(settings: ServiceSettings, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_use_tls,
        timeout=30,
    )


async def send_next(runtime: Runtime, clock: Clock) -> bool:
    """Send the oldest queued set-up link; False when there is none."""
    pool = runtime.require_pool()
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT o.id, o.account_id, a.email, a.name FROM setup_mail_outbox o "
            "JOIN accounts a USING (account_id) WHERE o.sent_at IS NULL "
            "AND a.status <> 'disabled' ORDER BY o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED"
        )
        if row is None:
            return False
        token = secrets.token_urlsafe(32)
        await conn.execute(
            "INSERT INTO setup_tokens (token_hash, account_id, expires_at) VALUES ($1, $2, $3)",
            digest(token), row["account_id"], clock.now() + SETUP_LINK_LIFETIME,
        )  # fmt: skip
        await conn.execute(
            "UPDATE setup_mail_outbox SET sent_at = $2, attempts = attempts + 1 WHERE id = $1",
            row["id"], clock.now(),
        )  # fmt: skip
        await send(
            runtime.settings, setup_message(runtime.settings, row["email"], row["name"], token)
        )
    log.info("set-up link sent", account_id=row["account_id"])
    return True


async def run_setup_mail(runtime: Runtime, stop: asyncio.Event, clock: Clock | None = None) -> None:
    """Send queued set-up links until `stop` is set."""
    clock = clock or SystemClock()
    delay = 0.5
    while not stop.is_set():
        try:
            while await send_next(runtime, clock):
                delay = 0.5
        except (OSError, aiosmtplib.SMTPException) as exc:
            log.warning("could not send a set-up link; will retry", error=str(exc))
            await _note_failure(runtime, str(exc))
            delay = min(delay * 2, 30.0)
        except Exception as exc:  # the database is away: the queue waits
            log.warning("set-up mail queue unavailable; will retry", error=str(exc))
            delay = min(delay * 2, 30.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def _note_failure(runtime: Runtime, error: str) -> None:
    # Bookkeeping only: the row is retried whether or not this is recorded.
    with contextlib.suppress(Exception):
        await runtime.require_pool().execute(
            "UPDATE setup_mail_outbox SET attempts = attempts + 1, last_error = $1 "
            "WHERE id = (SELECT min(id) FROM setup_mail_outbox WHERE sent_at IS NULL)",
            error[:500],
        )
