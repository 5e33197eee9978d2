"""What the portal tells registration about who is signing in, so that failures are counted
per person and client rather than per email address alone (docs/registration.md, "Signing
in"): the person's network address, vouched for with the portal key (`CSM_PORTAL_KEY_FILE`,
`csm_kernel.client_address`), and the token that marks this browser as one that has signed in
before, kept in an HttpOnly cookie sent only to the sign-in page.

The person's address is the connection's as uvicorn gives it: behind a load balancer, list
it in uvicorn's FORWARDED_ALLOW_IPS so that X-Forwarded-For is taken from it (and only it)."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

from csm_kernel.client_address import ClientProof

from ...application.models import Tokens
from .deps import portal_of

DEVICE_COOKIE = "csm_device"
#: As long as registration trusts a device after its last sign-in.
DEVICE_COOKIE_AGE = timedelta(days=90)
MAX_DEVICE_TOKEN = 200


@functools.cache
def _proof(key_file: Path) -> ClientProof:
    return ClientProof.from_file(key_file)


def client_headers(request: Request) -> dict[str, str]:
    """Headers naming the person's address to registration (none without a portal key, and
    registration then counts the portal's own address)."""
    key_file: Path | None = portal_of(request).settings.portal_key_file
    if key_file is None or request.client is None:
        return {}
    return _proof(key_file).headers(request.client.host)


def device_token(request: Request) -> str | None:
    """The token of a browser that has signed in before, if it sent a plausible one."""
    device = request.cookies.get(DEVICE_COOKIE)
    return device if device and len(device) <= MAX_DEVICE_TOKEN else None


def remember_device(request: Request, response: Response, tokens: Tokens) -> None:
    """Keep the device token registration gave this sign-in. It outlives signing out (that is
    its point), is sent only to /sign-in, and no script can read it."""
    token = tokens.device_token
    if not token:
        return
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=int(DEVICE_COOKIE_AGE.total_seconds()),
        path="/sign-in",
        httponly=True,
        secure=portal_of(request).settings.cookie_secure,
        samesite="strict",
    )
