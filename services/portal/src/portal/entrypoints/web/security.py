"""The portal's HTTP hardening in one middleware: the headers every response gets, and the
check every form post must pass.

Headers:
- `Content-Security-Policy`: only this site's scripts, styles, fonts and images; the one inline
  script (GOV.UK's template marks `<body>` as `js-enabled`) runs by a nonce made per response;
  no plugins, no `<base>`, forms post only here, no framing. GOV.UK Frontend's and htmx's files
  are served from this site; htmx's own inline `<style>` is turned off by `<meta
  name="htmx-config">` in the layout, so no `'unsafe-inline'` anywhere.
- `Cache-Control: no-store` on everything but the static assets: pages are personal (and carry
  a form token), downloads hold an organisation's data.
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` (a delegate's link holds its
  token in the path), `X-Frame-Options: DENY` for browsers without `frame-ancestors`.
- `Strict-Transport-Security` when the request came over https (TLS at uvicorn, or a proxy it
  trusts saying `X-Forwarded-Proto: https`), or always with `CSM_HSTS=true`.

Form posts (POST, PUT, PATCH, DELETE): an `Origin` from another site is refused, and the
request must carry the session's CSRF token (`csrf.py`); a refusal is a 403 page saying what to
do, keeping the session and listing what was typed."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response

from . import csrf
from .deps import portal_of
from .forms import back_to, values
from .rendering import render

Next = Callable[[Request], Awaitable[Response]]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Mounted static files: the same for everyone, so they may be cached.
STATIC_PREFIXES = ("/static/", "/assets/")
HSTS = "max-age=31536000; includeSubDomains"
#: Form fields never shown back on the refusal page: secrets, and what people did not type.
NOT_SHOWN = frozenset(
    {csrf.FIELD, "password", "confirm", "token", "version", "present", "action", "next"}
)


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


async def security(request: Request, call_next: Next) -> Response:
    """The middleware: the nonce and form token for the page, the check, the headers."""
    request.state.csp_nonce = secrets.token_urlsafe(18)
    csrf.begin(request)
    response = None
    if request.method in UNSAFE_METHODS:
        try:
            response = await _refusal(request)
        finally:
            await request.close()  # the form read here (the page reads its own copy)
    if response is None:
        response = await call_next(request)
    csrf.finish(request, response)
    apply_headers(request, response)
    return response


def apply_headers(request: Request, response: Response) -> None:
    """The security headers (also used by the last-resort error page, which is built outside
    the middleware)."""
    headers = response.headers
    nonce = getattr(request.state, "csp_nonce", None) or secrets.token_urlsafe(18)
    headers.setdefault("Content-Security-Policy", content_security_policy(nonce))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if not request.url.path.startswith(STATIC_PREFIXES):
        headers["Cache-Control"] = "no-store"
    if request.url.scheme == "https" or portal_of(request).settings.hsts:
        headers.setdefault("Strict-Transport-Security", HSTS)


def same_origin(request: Request) -> bool | None:
    """True for a request from this site's page, False from another's, None if unsaid."""
    origin = request.headers.get("origin")
    if origin is None:
        return None
    if origin == "null":
        return False
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


async def _refusal(request: Request) -> Response | None:
    origin = same_origin(request)
    if origin is not False and await csrf.is_valid(request):
        return None
    typed: list[dict[str, dict[str, str]]] = []
    if origin:
        # Only for a post from this site's own page (a token gone stale, say): another site's
        # form must not get its words shown on this site's page.
        typed = await _typed(request)
    return render(
        request,
        "errors/form_refused.html",
        403,
        title="Your form could not be sent",
        back=back_to(request),
        typed=typed,
        hide_account=True,
    )


async def _typed(request: Request) -> list[dict[str, dict[str, str]]]:
    """What was typed into the form, as GOV.UK summary list rows."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return []
    shown = []
    for name, value in values(await request.form()).items():
        if name in NOT_SHOWN:
            continue
        for item in value if isinstance(value, list) else [value]:
            if item.strip():
                label = name.removeprefix("q.").replace("_", " ").capitalize()
                shown.append({"key": {"text": label}, "value": {"text": item}})
    return shown
