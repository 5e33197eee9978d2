"""Sending email over SMTP (aiosmtplib), many messages over one open connection.

Opening a connection costs a TCP handshake, the greeting, EHLO and perhaps STARTTLS and AUTH:
several round trips before the first message. `SmtpConnection` opens it once and sends every
message over it, reconnecting when the server has closed it (idle timeout, restart) or a
failure left it in doubt.

Failures are sorted by what the sender should do next:

- `SmtpUnavailable`: the server could not be reached, or refused the session itself (greeting,
  EHLO, STARTTLS, AUTH, our MAIL FROM). No message was handed over, and the fault is the
  server's or our configuration's, not any one email's: try again later, count no attempt.
- `SmtpFailure(permanent=True)`: the server refused this email for good (a 5xx reply to RCPT or
  DATA, e.g. `550 5.1.1 No such mailbox`; 552 to MAIL FROM's size), or the address cannot be
  written in SMTP at all.
  Trying again would give the same answer.
- `SmtpFailure(permanent=False)`: this email failed for now (a 4xx reply, 421 included, a
  timeout, the connection dropped mid-message). Try again with backoff. A drop after the
  message's data went out is the one case where the server may have accepted it anyway; the
  sender's docstring says what follows from that.
"""

from __future__ import annotations

import time
from email.utils import parseaddr

import aiosmtplib

from csm_kernel.settings import ServiceSettings

from ..application.ports import MailFailure, MailUnavailable

#: A connection idle for longer than this is checked (NOOP) before it is trusted with a message:
#: servers close idle sessions, and finding out from a failed MAIL would count an attempt
#: against an email that was never handed over.
IDLE_CHECK_SECONDS = 5.0


class SmtpFailure(MailFailure):
    """An email the server did not accept (`application.ports.MailFailure`)."""


class SmtpUnavailable(SmtpFailure, MailUnavailable):
    """The server could not be reached or would not open a session: no email was handed over."""


class SmtpConnection:
    """`application.ports.MailConnection` over SMTP: one session, kept open across messages
    and reopened when needed. Not shared: one coroutine sends over it at a time (SMTP is one
    conversation)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        start_tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        local_hostname: str = "localhost",
        timeout: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._start_tls = start_tls
        self._username = username
        self._password = password
        self._local_hostname = local_hostname
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        #: Sessions opened so far (a figure for tests and the benchmark).
        self.connects = 0

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> SmtpConnection:
        """A connection to the configured server. `smtp_use_tls` means STARTTLS, as for
        registration's mail; credentials are sent only when a username is set."""
        _, sender = parseaddr(settings.mail_from)
        domain = sender.rpartition("@")[2] or "localhost"
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            start_tls=settings.smtp_use_tls,
            username=settings.smtp_username,
            password=settings.smtp_password if settings.smtp_username else None,
            # Named, not looked up: socket.getfqdn() can wait seconds on a resolver.
            local_hostname=domain,
        )

    async def _connected(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and client.is_connected:
            if time.monotonic() - self._last_used < IDLE_CHECK_SECONDS:
                return client
            try:
                await client.noop()
                return client
            except (aiosmtplib.SMTPException, OSError):
                self._drop()
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise SmtpUnavailable(f"{exc.code} {exc.message}", code=exc.code) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise SmtpUnavailable(_describe(exc, "could not connect")) from exc
        self._client = client
        self.connects += 1
        return client

    async def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Hand one message (its bytes, as written) to the server for one recipient (the
        envelope's; the message's headers are not read for it). Returns once the server
        accepted it; raises `SmtpFailure` (or `SmtpUnavailable`) otherwise."""
        client = await self._connected()
        # An address beyond ASCII needs the server's SMTPUTF8 (refused for good without it).
        options = [] if (sender + recipient).isascii() else ["SMTPUTF8"]
        try:
            await client.sendmail(sender, [recipient], message, mail_options=options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            raise self._refused(refusal.code, refusal.message) from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            if exc.code == 552:  # MAIL FROM's SIZE: this message is too big for the server
                raise SmtpFailure(f"{exc.code} {exc.message}", code=552, permanent=True) from exc
            # Our MAIL FROM refused: every email would be; the session's fault, not this one's.
            self._drop()
            raise SmtpUnavailable(
                f"sender refused: {exc.code} {exc.message}", code=exc.code
            ) from exc
        except aiosmtplib.SMTPDataError as exc:
            raise self._refused(exc.code, exc.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # Any other reply out of turn: the session is in doubt; start afresh, try again.
            self._drop()
            raise SmtpFailure(f"{exc.code} {exc.message}", code=exc.code) from exc
        except (ValueError, aiosmtplib.SMTPNotSupported) as exc:
            # An address SMTP cannot carry (aiosmtplib checks before sending anything).
            raise SmtpFailure(f"address not deliverable: {exc}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Disconnected or timed out mid-message: maybe accepted, maybe not. Try again.
            self._drop()
            raise SmtpFailure(_describe(exc, "connection lost")) from exc
        self._last_used = time.monotonic()

    def _refused(self, code: int, message: str) -> SmtpFailure:
        """The server's refusal of RCPT or DATA: for good (5xx) or for now (4xx)."""
        if code == 421:
            # "Closing transmission channel": start a new session next time. Still counted
            # against this email: servers also say 421 to one sender or recipient they are
            # throttling, and an email that always gets it must back off and in the end fail,
            # not hold up the queue behind it.
            self._drop()
        return SmtpFailure(f"{code} {message}", code=code, permanent=code >= 500)

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        """End the session politely (QUIT), or just close the socket if that fails."""
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


def _describe(exc: BaseException, fallback: str) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__}: {fallback}"
