"""What a person sent when their session had ended, kept through signing in again.

When a form is posted (a Save, a Return) and the session behind it has ended, the sign-in page
is shown in its place and carries what was sent, sealed: encrypted and authenticated with a key
only the portal holds (Fernet, from `cryptography`), stamped with the time, bound to the
account of the session that ended, and never in a URL, a log or a cookie. After signing in
again *as that account*, within `KEEP_FOR`, the person is shown what will be sent and saves it
with one button (a fresh form token, so the page's own checks and the services' rules apply as
to any Save). Signed in as anyone else, or later, it is dropped unopened.

The key is derived from the portal key (`CSM_PORTAL_KEY_FILE`, which every portal replica
holds); without one it is made per process, so that a kept form survives only on the process
that kept it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from .csrf import FIELD as CSRF_FIELD
from .deps import portal_of
from .forms import safe_next

#: How long what was sent is kept for signing in again.
KEEP_FOR = timedelta(minutes=30)
#: Sealed forms larger than this are not kept (a page never sends this much text).
MAX_KEPT_BYTES = 256 * 1024
FIELD = "kept"


@dataclass(frozen=True)
class KeptForm:
    """A form as it was sent: where to, by which account, its fields in order, and the page
    it was sent from."""

    path: str
    account_id: str
    fields: list[tuple[str, str]]
    back: str


def account_of(access_token: str | None) -> str:
    """The account an access token was for (its `sub`), read without checking it: it only
    binds what is kept to the account the browser was signed in as, and the kept form is
    given back only after signing in again as that account, which registration checks."""
    if not access_token:
        return ""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("sub") or "") if isinstance(claims, dict) else ""
    except (IndexError, ValueError, TypeError, AttributeError):
        return ""


@functools.cache
def _fernet_from(key_file: Path | None) -> Fernet:
    secret = secrets.token_bytes(32) if key_file is None else key_file.read_bytes().strip()
    key = hmac.new(secret, b"csm portal kept forms", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _fernet(request: Request) -> Fernet:
    return _fernet_from(portal_of(request).settings.portal_key_file)


def keepable(request: Request, form: FormData) -> list[tuple[str, str]] | None:
    """The fields worth keeping of a posted form (never its form token), or None if it holds
    a file (a file is not kept: it is chosen again)."""
    if request.method != "POST":
        return None
    fields: list[tuple[str, str]] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            return None
        if key != CSRF_FIELD:
            fields.append((key, value))
    return fields


def seal(request: Request, account_id: str, fields: list[tuple[str, str]], back: str) -> str | None:
    """What was sent, sealed for the sign-in page; None if too large to keep."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    data = {"path": path, "account": account_id, "fields": fields, "back": back}
    plain = json.dumps(data).encode()
    sealed = _fernet(request).encrypt(plain).decode()
    return sealed if len(sealed) <= MAX_KEPT_BYTES else None


def unseal(request: Request, sealed: str) -> KeptForm | None:
    """What was sent, if the seal is ours and recent; else None."""
    if not sealed or len(sealed) > MAX_KEPT_BYTES:
        return None
    try:
        plain = _fernet(request).decrypt(sealed.encode(), ttl=int(KEEP_FOR.total_seconds()))
        data = json.loads(plain)
        fields = [(str(k), str(v)) for k, v in data["fields"]]
        return KeptForm(
            safe_next(str(data["path"])), str(data["account"]), fields, safe_next(data["back"])
        )
    except (InvalidToken, ValueError, KeyError, TypeError):
        return None
