"""Detached JWS signatures: what signs verifies, with our code and with a JWK Set alone."""

import base64
import json
from pathlib import Path

import pytest

from csm_kernel.signing import KeyRing, SignatureInvalid, retire, rotate, verify_detached


def test_a_signature_is_detached_and_verifies_against_the_published_keys() -> None:
    ring = KeyRing.generate()
    payload = b'{"organisation_id":"5A4","signed_off_at":"2026-12-06T08:14:00Z"}'
    signature = ring.sign(payload)
    header, body, _ = signature.split(".")
    assert body == ""
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {
        "alg": "EdDSA",
        "kid": ring.active_kid,
    }
    assert verify_detached(signature, payload, ring.jwks()) == ring.active_kid


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s, p: (s, p + b" "),
        lambda s, p: (s, p.replace(b"5A4", b"5A5")),
        lambda s, p: (s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1], p),
        lambda s, p: ("not a jws", p),
        lambda s, p: ("", p),
    ],
)
def test_anything_but_the_signed_bytes_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    ring = KeyRing.generate()
    payload = b'{"organisation_id":"5A4"}'
    signature, payload = tamper(ring.sign(payload), payload)
    with pytest.raises(SignatureInvalid):
        verify_detached(signature, payload, ring.jwks())


def test_a_key_another_ring_holds_is_not_trusted() -> None:
    payload = b"{}"
    with pytest.raises(SignatureInvalid, match="not published"):
        verify_detached(KeyRing.generate().sign(payload), payload, KeyRing.generate().jwks())


def test_rotation_keeps_old_signatures_verifiable_until_the_key_is_retired(tmp_path: Path) -> None:
    first = KeyRing.ensure(tmp_path)
    assert KeyRing.ensure(tmp_path).active_kid == first.active_kid
    old_signature = first.sign(b"old")
    new_kid = rotate(tmp_path)
    ring = KeyRing.load(tmp_path)
    assert ring.active_kid == new_kid != first.active_kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new_kid, first.active_kid]
    assert verify_detached(old_signature, b"old", ring.jwks()) == first.active_kid
    assert not (tmp_path / f"{first.active_kid}.pem").exists(), "the old private key is kept"
    with pytest.raises(ValueError, match="active"):
        retire(tmp_path, new_kid)
    retire(tmp_path, first.active_kid)
    with pytest.raises(SignatureInvalid):
        verify_detached(old_signature, b"old", KeyRing.load(tmp_path).jwks())
    assert (tmp_path / f"{new_kid}.pem").stat().st_mode & 0o077 == 0
