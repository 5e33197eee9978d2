"""The embedded stack's mailbox: what the SMTP sink kept, newest first, links clickable.

It shows set-up and delegation links, which must never be on a real deployment's pages: only
where turned on (`CSM_MAILBOX_ENABLED`, as `make run` does) with a directory to read, and only
to a signed-in national admin. Anyone else gets "Page not found", as if it were not there."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .deps import portal_of
from .rendering import render
from .session import OptionalSession

router = APIRouter(default_response_class=HTMLResponse)

#: The newest messages the page lists.
SHOWN = 200


def read_mailbox(directory: Path) -> list[dict[str, str]]:
    """The sink's .eml files (csm_infra.smtp_sink's format), newest first."""
    messages = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:SHOWN]:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        body = msg.get_body(preferencelist=("plain", "html"))
        messages.append(
            {
                "file": path.stem,
                "from": str(msg["From"] or ""),
                "to": str(msg["To"] or ""),
                "subject": str(msg["Subject"] or ""),
                "date": str(msg["Date"] or ""),
                "body": body.get_content() if isinstance(body, EmailMessage) else "",
            }
        )
    return messages


@router.get("/mailbox")
async def mailbox(request: Request, session: OptionalSession) -> Response:
    directory = portal_of(request).settings.mailbox()
    if directory is None or session is None or not session.is_national:
        return render(request, "errors/not_found.html", 404)
    return render(
        request,
        "mailbox/list.html",
        title="Mailbox",
        messages=read_mailbox(directory),
        directory=str(directory),
        width="full",
    )
