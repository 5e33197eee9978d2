"""The emails' words: Jinja2 templates in `notification/templates`, a subject, a plain-text
part and an HTML part for each kind. Missing values fail loudly (StrictUndefined) rather than
sending an email with a hole in it; the HTML is autoescaped."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..domain.notification import Kind

_ENV = Environment(
    loader=PackageLoader("notification", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

#: Every kind there is a template for.
KINDS = tuple(v for k, v in vars(Kind).items() if k.isupper())


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, context: dict[str, Any]) -> Rendered:
    """The email of `kind` with `context`; `jinja2.UndefinedError` if the context lacks a value."""
    subject = _ENV.get_template(f"{kind}.subject").render(context).strip()
    return Rendered(
        subject=" ".join(subject.split()),
        text=_ENV.get_template(f"{kind}.txt").render(context),
        html=_ENV.get_template(f"{kind}.html").render(context),
    )


def message(
    rendered: Rendered, *, sender: str, to: str, notification_id: str, domain: str = "csm.local"
) -> EmailMessage:
    """A MIME message with both parts. Its Message-ID is the notification's, so a receiver can
    recognise the one resend the unavoidable crash window allows."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Message-ID"] = f"<{notification_id}@{domain}>"
    msg["X-CSM-Notification"] = notification_id
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg
