"""Reading posted forms: plain strings, trimmed, with the portal's own checks."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import FormData

#: The largest text field a form may carry. Starlette's default (1 MB) refused the organisation
#: import's confirmation, which sends the checked file back in a field; a field is never larger
#: than its body, which the edge caps per route (4 MB, more only where a route says so).
MAX_FIELD_BYTES = 64 * 1024 * 1024


async def form_of(request: Request) -> FormData:
    return await request.form(max_part_size=MAX_FIELD_BYTES)


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def values(form: FormData) -> dict[str, str | list[str]]:
    """The form as it was filled in, to show again beside its errors."""
    out: dict[str, str | list[str]] = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = items if len(items) > 1 else (items[0] if items else "")
    return out


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def back_to(request: Request) -> str:
    """The page a form was sent from (a same-site Referer, which `Referrer-Policy:
    same-origin` lets through), for a "go back" link; else the start page."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.headers.get("host", ""):
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
