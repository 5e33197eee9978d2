"""Tokens that prove a form was sent from a page this portal served to this browser session.

The portal has no database, so a synchroniser token kept server-side is not an option; this is
a signed double-submit token bound to the session:

- the `csm_csrf` cookie (`__Host-csm_csrf` when cookies are Secure, so a sibling domain cannot
  plant one) holds 32 random bytes: HttpOnly, never in a page, rotated at sign-in and sign-out;
- a page's token is HMAC-SHA256 over the session id (the access token's `sid` claim; empty
  before signing in) keyed with that secret. The page carries the MAC only, so knowing a token
  reveals neither the secret nor a way to make a token for another session, and a cookie
  planted from elsewhere does not match the victim's session id;
- every POST, PUT, PATCH and DELETE must carry it: the form's hidden `csrf_token` field, or the
  `X-CSRF-Token` header (htmx sends it from `hx-headers` on `<body>`).

The sid is read without checking the token's signature: it binds the form to a session, it does
not say who is signed in (the services check the access token on every call). No library fitted
(Starlette's and FastAPI's CSRF packages are not bound to a session or check one route at a
time), and this is stdlib `hmac` and `secrets`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets

from fastapi import Request
from fastapi.responses import Response

from .deps import portal_of
from .forms import MAX_FIELD_BYTES
from .session import ACCESS_COOKIE

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
_PURPOSE = b"csm-portal-csrf-v1\x00"
_SECRET_BYTES = 32


def cookie_name(secure: bool) -> str:
    """`__Host-` cookies must be Secure, so the prefix goes only where cookies are Secure."""
    return "__Host-csm_csrf" if secure else "csm_csrf"


def _secure(request: Request) -> bool:
    return bool(portal_of(request).settings.cookie_secure)


def _decode_secret(value: str | None) -> bytes | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return raw if len(raw) == _SECRET_BYTES else None


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def session_id_of(access_token: str | None) -> str:
    """The registration session an access token belongs to (its `sid`), unverified; ""."""
    if not access_token:
        return ""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("sid") or "") if isinstance(claims, dict) else ""
    except (IndexError, ValueError, TypeError, AttributeError, binascii.Error):
        return ""


def token_for(secret: str, session_id: str) -> str:
    """The token a page carries for the browser whose cookie holds `secret`."""
    raw = _decode_secret(secret)
    if raw is None:
        return ""
    mac = hmac.new(raw, _PURPOSE + session_id.encode(), hashlib.sha256).digest()
    return _encode(mac)


def begin(request: Request) -> None:
    """Read the browser's secret, or make one (set on the response by `finish`)."""
    value = request.cookies.get(cookie_name(_secure(request)))
    if _decode_secret(value) is None:
        rotate(request)
    else:
        request.state.csrf_secret = value
        request.state.csrf_new = False


def rotate(request: Request) -> None:
    """A new secret: at sign-in and sign-out, so no token from before works after."""
    request.state.csrf_secret = _encode(secrets.token_bytes(_SECRET_BYTES))
    request.state.csrf_new = True


def finish(request: Request, response: Response) -> None:
    """Give the browser its new secret, if it got one."""
    if getattr(request.state, "csrf_new", False):
        secure = _secure(request)
        response.set_cookie(
            cookie_name(secure),
            request.state.csrf_secret,
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/",
        )


def _page_session_id(request: Request) -> str:
    # The session the page is for: a token refreshed while building it keeps its sid, and a
    # session that ended while building it is gone by the time the form comes back.
    if getattr(request.state, "clear_session", False):
        return ""
    new_tokens = getattr(request.state, "new_tokens", None)
    if new_tokens is not None:
        return session_id_of(new_tokens.get("access_token"))
    return session_id_of(request.cookies.get(ACCESS_COOKIE))


def page_token(request: Request) -> str:
    """The token for the forms of the page being built."""
    secret = getattr(request.state, "csrf_secret", None)
    if secret is None:
        return ""
    return token_for(secret, _page_session_id(request))


async def sent_token(request: Request) -> str:
    """The token a request carries: the header, else the form's field."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return ""
    # body() first: the page's handler then reads the same body again (Starlette replays a
    # body read in full, but not one only streamed).
    await request.body()
    value = (await request.form(max_part_size=MAX_FIELD_BYTES)).get(FIELD)
    return value if isinstance(value, str) else ""


async def is_valid(request: Request) -> bool:
    """Does this unsafe request carry the token of this browser's session?"""
    expected = token_for(
        request.state.csrf_secret, session_id_of(request.cookies.get(ACCESS_COOKIE))
    )
    sent = await sent_token(request)
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())
