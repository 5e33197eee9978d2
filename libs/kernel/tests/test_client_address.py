"""The portal's proof of a person's address: only a holder of the key can name one."""

from __future__ import annotations

import secrets

import pytest

from csm_kernel.client_address import CLIENT_HEADER, PROOF_HEADER, ClientProof


def test_a_proved_address_is_read_back() -> None:
    proof = ClientProof(secrets.token_bytes(32))
    assert proof.vouched(proof.headers("203.0.113.9")) == "203.0.113.9"


def test_an_address_without_a_good_proof_is_ignored() -> None:
    ours, theirs = ClientProof(secrets.token_bytes(32)), ClientProof(secrets.token_bytes(32))
    forged = theirs.headers("203.0.113.9")
    assert ours.vouched(forged) is None
    assert ours.vouched({CLIENT_HEADER: "203.0.113.9"}) is None
    swapped = {**ours.headers("203.0.113.9"), CLIENT_HEADER: "198.51.100.1"}
    assert ours.vouched(swapped) is None
    assert ours.vouched({CLIENT_HEADER: "x" * 65, PROOF_HEADER: "y"}) is None


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ClientProof(b"short")
