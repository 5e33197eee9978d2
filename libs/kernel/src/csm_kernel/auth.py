"""Signing and verifying access tokens, and enforcing roles on endpoints.

Registration holds the Ed25519 private key and signs; every service holds the public key and
verifies (`csm_contracts.auth` is the format). Endpoints declare what they need with
`require(...)`; a token that is missing, expired, forged or for another audience is 401, a
valid token without the role is 403, and data of an organisation the caller may not see is 404
(`ensure_can_see`), so nobody learns what exists elsewhere.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from fastapi import Depends, Request
from pydantic import ValidationError

from csm_contracts.auth import ALGORITHM, AUDIENCE, ISSUER, AccessClaims, Role

from .errors import Forbidden, NotFound, Unauthorised
from .request_tracing import note_caller

#: Roles that may read every organisation's data.
SEE_ALL = frozenset({Role.NATIONAL_ADMIN, Role.AUDITOR})


@dataclass(frozen=True)
class Principal:
    """Who is calling, as their access token says."""

    user_id: str
    session_id: str
    roles: frozenset[Role]
    organisation_id: str | None = None
    group_id: str | None = None

    def has(self, *roles: Role) -> bool:
        """Does the caller hold any of these roles?"""
        return bool(self.roles.intersection(roles))

    @property
    def actor(self) -> str:
        """How events record this caller: an account id, never a secret."""
        return f"user:{self.user_id}"


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def ensure_keypair(directory: Path) -> tuple[Path, Path]:
    """The key pair files in `directory`, created on first use (private key mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    private_file, public_file = directory / "auth-private.pem", directory / "auth-public.pem"
    if not private_file.exists():
        private, public = generate_keypair()
        private_file.touch(mode=0o600)
        private_file.write_bytes(private)
        public_file.write_bytes(public)
    return private_file, public_file


class TokenSigner:
    """Issues access tokens (registration only)."""

    def __init__(self, private_key_pem: bytes, ttl_seconds: int = 900) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the access-token key must be an Ed25519 private key")
        self._key = key
        self.ttl_seconds = ttl_seconds

    def issue(self, principal: Principal, now: float | None = None) -> tuple[str, AccessClaims]:
        """A signed access token for `principal`, and its claims."""
        issued = int(now if now is not None else time.time())
        claims = AccessClaims(
            sub=principal.user_id,
            sid=principal.session_id,
            jti=uuid.uuid4().hex,
            iat=issued,
            exp=issued + self.ttl_seconds,
            roles=sorted(principal.roles),
            org=principal.organisation_id,
            group=principal.group_id,
        )
        token = jwt.encode(claims.model_dump(mode="json"), self._key, algorithm=ALGORITHM)
        return token, claims


class TokenVerifier:
    """Checks access tokens against registration's public key."""

    def __init__(
        self, public_key_pem: bytes, leeway_seconds: int = 5, cache_size: int = 20_000
    ) -> None:
        key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the access-token key must be an Ed25519 public key")
        self._key = key
        self._leeway = leeway_seconds
        # A token never changes, so one that verified stays valid until it expires: checking
        # its signature once (~0.3 ms) rather than on every request of a busy user is safe.
        self._verified: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: str) -> Principal:
        """The principal a valid token names; `Unauthorised` (never saying why) otherwise.
        The request being served learns who its caller is (its log line names the roles)."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if time.time() < expires + self._leeway:
                self._verified.move_to_end(token)
                note_caller(principal)
                return principal
            del self._verified[token]
        principal, expires = self._verify(token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        note_caller(principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, int]:
        try:
            raw: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "sid", "jti"]},
            )
            claims = AccessClaims.model_validate(raw)
        except (jwt.PyJWTError, ValidationError):
            raise Unauthorised(
                "sign in again: the access token is missing, invalid or expired"
            ) from None
        principal = Principal(
            user_id=claims.sub,
            session_id=claims.sid,
            roles=frozenset(claims.roles),
            organisation_id=claims.org,
            group_id=claims.group,
        )
        return principal, claims.exp


RevocationCheck = Callable[[Principal], Awaitable[bool]]
"""Is this principal's session revoked? (registration checks its own sessions table)"""


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorised("sign in first: send 'Authorization: Bearer <access token>'")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller."""
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise Unauthorised("this service has no access-token key configured")
    principal = verifier.verify(_bearer(request))
    revoked: RevocationCheck | None = getattr(request.app.state, "revocation_check", None)
    if revoked is not None and await revoked(principal):
        raise Unauthorised("this session has been signed out")
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency factory: the caller, who must hold one of `roles`."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if not principal.has(*roles):
            raise Forbidden("your role does not allow this")
        return principal

    return dependency


def ensure_can_see(principal: Principal, organisation_id: str, what: str = "organisation") -> None:
    """404 unless the caller may see this organisation's data (its own, or all of them)."""
    if principal.roles & SEE_ALL:
        return
    if principal.organisation_id != organisation_id:
        raise NotFound(f"no {what} {organisation_id}")
