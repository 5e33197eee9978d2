"""Detached JWS signatures (Ed25519) on what the platform hands to outsiders.

Regulators receive sign-offs on the public topic and auditors take away audit bundles; both
must be able to prove, with a standard JOSE library and nothing of this project's code, that
the bytes they hold are the bytes the platform published. Each such document is signed as a
compact JWS with a detached payload (RFC 7515 appendix F): `<protected header>..<signature>`,
where the payload is exactly the bytes delivered (a Kafka message value, a manifest file).
The protected header names the algorithm (`EdDSA`) and the key (`kid`, the key's RFC 7638
thumbprint), and the public keys are published as a JWK Set.

Keys live in one directory, as a `KeyRing`:

- `<kid>.pem`: the active private key (PKCS #8, mode 0600); only the active key keeps one;
- `<kid>.public.pem`: every key still published (the active one and those it replaced);
- `active`: the active key's kid.

`rotate` makes a new active key and keeps the old one's public half published, so signatures
already in the topic still verify; `retire` stops publishing a key once nothing signed with
it is kept anywhere (the topic's retention has passed).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
_ACTIVE = "active"
_PUBLIC_SUFFIX = ".public.pem"


class SignatureInvalid(Exception):
    """A detached JWS that does not verify: malformed, an unknown key, or the wrong bytes."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): what `kid` holds."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # RFC 7638: the required members only, in lexicographic order, no whitespace.
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK, with its `kid`, `alg` and `use` (for JWKS documents)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(raw),
        "kid": key_id(public_key),
        "alg": ALGORITHM,
        "use": "sig",
    }


@dataclass(frozen=True)
class KeyRing:
    """The active signing key and every public key still published.

    Build one with `KeyRing.load(directory)` (or `KeyRing.ensure(directory)` to create the
    first key on a fresh machine); tests may build one in memory with `KeyRing.generate()`.
    """

    active_kid: str
    private_key: Ed25519PrivateKey
    public_keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def generate(cls) -> KeyRing:
        """A ring of one new key, held only in memory."""
        private = Ed25519PrivateKey.generate()
        kid = key_id(private.public_key())
        return cls(kid, private, {kid: private.public_key()})

    @classmethod
    def load(cls, directory: Path) -> KeyRing:
        """The ring kept in `directory`; `FileNotFoundError` when it holds no active key."""
        active = (directory / _ACTIVE).read_text().strip()
        loaded = serialization.load_pem_private_key(
            (directory / f"{active}.pem").read_bytes(), password=None
        )
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{directory}/{active}.pem is not an Ed25519 private key")
        if key_id(loaded.public_key()) != active:
            raise ValueError(f"{directory}/{active}.pem does not hold the key {active}")
        public: dict[str, Ed25519PublicKey] = {}
        for path in sorted(directory.glob(f"*{_PUBLIC_SUFFIX}")):
            key = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(key, Ed25519PublicKey):
                public[key_id(key)] = key
        public[active] = loaded.public_key()
        return cls(active, loaded, public)

    @classmethod
    def ensure(cls, directory: Path) -> KeyRing:
        """The ring kept in `directory`, made with one new key the first time (once, however
        many processes start together on a fresh directory)."""
        if not (directory / _ACTIVE).exists():
            directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(directory, os.O_RDONLY)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when closed
                if not (directory / _ACTIVE).exists():
                    rotate(directory)
            finally:
                os.close(descriptor)
        return cls.load(directory)

    def sign(self, payload: bytes) -> str:
        """A compact JWS over `payload` with the payload detached: `<header>..<signature>`."""
        # RFC 7515 appendix F (the payload base64url-encoded, then left out), not RFC 7797's
        # unencoded payload: every JOSE library verifies it once the payload is put back.
        header, _, signature = (
            jwt.api_jws.PyJWS()
            .encode(
                payload,
                self.private_key,
                algorithm=ALGORITHM,
                headers={"kid": self.active_kid, "typ": None},  # not a JWT: no typ
            )
            .split(".")
        )
        return f"{header}..{signature}"

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every published public key as a JWK Set (the active key first)."""
        kids = [self.active_kid, *sorted(k for k in self.public_keys if k != self.active_kid)]
        return {"keys": [public_jwk(self.public_keys[kid]) for kid in kids]}

    def verify(self, signature: str, payload: bytes) -> str:
        """The kid that signed `payload`; `SignatureInvalid` otherwise."""
        return verify_detached(signature, payload, self.jwks())


def verify_detached(signature: str, payload: bytes, jwks: Mapping[str, Any]) -> str:
    """Check a detached compact JWS over `payload` against a JWK Set; returns the kid.

    Raises `SignatureInvalid` when the JWS is malformed, names a key the set does not hold,
    uses any algorithm but EdDSA, or does not match the bytes.
    """
    try:
        header = jwt.api_jws.get_unverified_header(signature)
    except jwt.PyJWTError as error:
        raise SignatureInvalid(f"not a compact JWS: {error}") from error
    kid, alg = header.get("kid"), header.get("alg")
    if alg != ALGORITHM:
        raise SignatureInvalid(f"signed with {alg!r}, not {ALGORITHM}")
    if not isinstance(kid, str):
        raise SignatureInvalid("the JWS names no key (kid)")
    keys = [k for k in jwks.get("keys", []) if isinstance(k, Mapping) and k.get("kid") == kid]
    if not keys:
        raise SignatureInvalid(f"the key {kid} is not published")
    header_part, detached, signature_part = [*signature.split("."), "", ""][:3]
    if detached:
        raise SignatureInvalid("the JWS carries its payload: a detached one leaves it out")
    try:
        key = jwt.PyJWK(dict(keys[0]), algorithm=ALGORITHM).key
        jwt.api_jws.PyJWS().decode_complete(
            f"{header_part}.{_b64url(payload)}.{signature_part}", key, algorithms=[ALGORITHM]
        )
    except jwt.PyJWTError as error:
        raise SignatureInvalid(f"the signature does not match: {error}") from error
    return kid


class KeyDirectory:
    """The `KeyRing` kept in a directory, read again whenever the directory changes.

    A running service holds one: when an operator's command (another process) rotates or
    retires a key, the next `ring()` sees it, so signing moves to the new key and the JWK Set
    shows the change without a restart. The first `ring()` on a fresh directory makes its
    first key (`KeyRing.ensure`).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ring: KeyRing | None = None
        self._seen: tuple[int, ...] | None = None

    def _stamp(self) -> tuple[int, ...]:
        # The directory changes (mtime) when a key file comes or goes; `active` is replaced by
        # a rename, so it gets a new inode. Either says: read the ring again.
        try:
            active = (self.directory / _ACTIVE).stat()
        except FileNotFoundError:
            return ()
        return (self.directory.stat().st_mtime_ns, active.st_ino, active.st_mtime_ns)

    def ring(self) -> KeyRing:
        """The ring as the directory holds it now."""
        stamp = self._stamp()
        if self._ring is None or stamp != self._seen:
            try:
                self._ring = KeyRing.ensure(self.directory)
            except FileNotFoundError:  # a rotation deleted the old private key mid-read
                stamp = self._stamp()
                self._ring = KeyRing.ensure(self.directory)
            # The stamp from before reading: a change made while reading shows next time.
            self._seen = stamp or self._stamp()
        return self._ring


def rotate(directory: Path) -> str:
    """Make a new active key in `directory`; the old one stays published. Returns the new kid.

    The old private key is deleted: nothing signs with it again, and its public half (kept as
    `<kid>.public.pem`) is all verifiers need.
    """
    directory.mkdir(parents=True, exist_ok=True)
    previous = (directory / _ACTIVE).read_text().strip() if (directory / _ACTIVE).exists() else None
    private = Ed25519PrivateKey.generate()
    kid = key_id(private.public_key())
    private_file = directory / f"{kid}.pem"
    private_file.touch(mode=0o600)
    private_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / f"{kid}{_PUBLIC_SUFFIX}").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    # The switch is one rename, so a reader sees the old key or the new one, never neither.
    pending = directory / f"{_ACTIVE}.{kid}.tmp"  # its own: two rotations never share one
    pending.write_text(kid + "\n")
    os.replace(pending, directory / _ACTIVE)
    if previous and previous != kid:
        (directory / f"{previous}.pem").unlink(missing_ok=True)
    return kid


def retire(directory: Path, kid: str) -> None:
    """Stop publishing `kid`. The active key cannot be retired (rotate first)."""
    if (directory / _ACTIVE).exists() and (directory / _ACTIVE).read_text().strip() == kid:
        raise ValueError(f"{kid} is the active key: rotate before retiring it")
    public_file = directory / f"{kid}{_PUBLIC_SUFFIX}"
    if not public_file.exists():
        raise FileNotFoundError(f"no published key {kid} in {directory}")
    public_file.unlink()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
