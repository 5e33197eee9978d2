"""Links that let a delegate (who has no account) open one questionnaire.

A link's token is `<questionnaire id>.<delegation id>.<HMAC-SHA256 of both>`, keyed by a secret
only the questionnaire service (which checks tokens) and the notification service (which puts
them in emails) hold. So no token is ever stored, logged or carried by an event: it is derived
again from the ids in `QuestionnaireDelegated` when the email is written. Whether a token still
works (revoked, replaced, past the close) is the questionnaire service's state, not the token's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

KEY_BYTES = 32


def ensure_delegation_key(file: Path) -> Path:
    """The key file, created on first use with a random key (mode 0600)."""
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch(mode=0o600)
        file.write_bytes(base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)))
    return file


class DelegationLinks:
    """Makes and checks delegates' tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a delegation-link key needs at least 32 bytes")
        self._key = key

    @classmethod
    def from_file(cls, file: Path) -> DelegationLinks:
        """Links keyed by the contents of a key file."""
        return cls(file.read_bytes().strip())

    def _mac(self, questionnaire_id: str, delegation_id: str) -> str:
        digest = hmac.new(
            self._key, f"{questionnaire_id}\n{delegation_id}".encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, questionnaire_id: str, delegation_id: str) -> str:
        """The token for one delegation of one questionnaire."""
        if "." in questionnaire_id or "." in delegation_id:
            raise ValueError("ids in a delegation token cannot contain '.'")
        return f"{questionnaire_id}.{delegation_id}.{self._mac(questionnaire_id, delegation_id)}"

    def read(self, token: str) -> tuple[str, str] | None:
        """(questionnaire id, delegation id) if the token is genuine, else None."""
        parts = token.strip().split(".")
        if len(parts) != 3:
            return None
        questionnaire_id, delegation_id, mac = parts
        if not hmac.compare_digest(mac, self._mac(questionnaire_id, delegation_id)):
            return None
        return questionnaire_id, delegation_id
