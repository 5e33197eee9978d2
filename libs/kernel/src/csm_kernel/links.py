"""Tokens for links sent by email: a delegate's link to one questionnaire, a new account's
set-up link.

A token is the ids it stands for and an HMAC-SHA256 over them and the link's purpose, keyed by
a secret held only by the service that checks the token and the notification service, which
writes it into the email. So no token is ever stored, logged or carried by an event: it is
derived again from the ids an event carries when the email is written. Whether a token still
works (revoked, used, expired) is the checking service's state, not the token's; a token made
for one purpose never passes for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

KEY_BYTES = 32
DELEGATION = "delegation"
SET_UP = "set-up"


def ensure_link_key(file: Path) -> Path:
    """The key file, created on first use with a random key (mode 0600)."""
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch(mode=0o600)
        file.write_bytes(base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)))
    return file


class LinkTokens:
    """Makes and checks link tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a link key needs at least 32 bytes")
        self._key = key

    @classmethod
    def from_file(cls, file: Path) -> LinkTokens:
        """Tokens keyed by the contents of a key file."""
        return cls(file.read_bytes().strip())

    def _mac(self, purpose: str, ids: tuple[str, ...]) -> str:
        message = "\n".join((purpose, *ids)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, purpose: str, *ids: str) -> str:
        """The token for `ids` (none may contain '.') for one purpose."""
        if not ids or any(not i or "." in i for i in ids):
            raise ValueError("a link token's ids are non-empty and contain no '.'")
        return ".".join((*ids, self._mac(purpose, ids)))

    def read(self, purpose: str, token: str, count: int) -> tuple[str, ...] | None:
        """The `count` ids a genuine token of this purpose stands for, else None."""
        if not token.isascii():
            return None  # none of ours: and hmac.compare_digest refuses other text (TypeError)
        parts = token.strip().split(".")
        if len(parts) != count + 1 or not all(parts):
            return None
        ids, mac = tuple(parts[:-1]), parts[-1]
        if not hmac.compare_digest(mac, self._mac(purpose, ids)):
            return None
        return ids

    def delegation_token(self, questionnaire_id: str, delegation_id: str) -> str:
        """A delegate's token: one delegation of one questionnaire."""
        return self.token(DELEGATION, questionnaire_id, delegation_id)

    def read_delegation(self, token: str) -> tuple[str, str] | None:
        """(questionnaire id, delegation id) of a genuine delegate's token, else None."""
        ids = self.read(DELEGATION, token, 2)
        return (ids[0], ids[1]) if ids else None

    def set_up_token(self, setup_id: str) -> str:
        """A new account's set-up token."""
        return self.token(SET_UP, setup_id)

    def read_set_up(self, token: str) -> str | None:
        """The set-up id of a genuine set-up token, else None."""
        ids = self.read(SET_UP, token, 1)
        return ids[0] if ids else None
