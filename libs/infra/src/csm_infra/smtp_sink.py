"""An SMTP server that keeps every message it receives, as .eml files people and tests can read.

Run as `python -m csm_infra.smtp_sink --port 1025 --dir var/mail`.

Two reserved domains (RFC 2606 `.invalid`, so no real address is affected) let tests provoke
the refusals a real server gives: a recipient at `reject.invalid` is refused for good
(`550 5.1.1 No such mailbox`), one at `defer.invalid` for now (`451 4.3.0 Try again later`).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

#: Recipient domains the sink refuses, and how.
REFUSED_DOMAINS = {
    "reject.invalid": "550 5.1.1 No such mailbox",
    "defer.invalid": "451 4.3.0 Try again later",
}


class MailboxHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = REFUSED_DOMAINS.get(address.rpartition("@")[2].lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stamp = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        raw = envelope.original_content or envelope.content
        tmp = self.directory / f".{stamp}.tmp"
        tmp.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
        tmp.rename(self.directory / f"{stamp}.eml")
        return "250 Message accepted for delivery"


def read_mailbox(directory: Path) -> list[dict[str, Any]]:
    """Every kept message, oldest first, as {file, from, to, subject, body, message_id,
    notification} (`notification`: the X-CSM-Notification header, or None)."""
    messages = []
    for path in sorted(directory.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        messages.append(
            {
                "file": path.name,
                "from": str(msg["From"]),
                "to": str(msg["To"]),
                "subject": str(msg["Subject"]),
                "body": body.get_content() if body is not None else "",
                "message_id": _header(msg, "Message-ID"),
                "notification": _header(msg, "X-CSM-Notification"),
            }
        )
    return messages


def _header(msg: email.message.Message, name: str) -> str | None:
    value = msg[name]
    return None if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    parser.add_argument("--list", action="store_true", help="print kept messages and exit")
    args = parser.parse_args()
    if args.list:
        print(json.dumps(read_mailbox(args.dir), indent=2))
        return
    controller = Controller(MailboxHandler(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
