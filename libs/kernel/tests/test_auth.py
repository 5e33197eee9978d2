"""Access tokens: what verifies, and everything that must not."""

from __future__ import annotations

import time

import jwt
import pytest

from csm_contracts.auth import Role
from csm_kernel.auth import Principal, TokenSigner, TokenVerifier, ensure_can_see, generate_keypair
from csm_kernel.errors import NotFound, Unauthorised

PRIVATE, PUBLIC = generate_keypair()
LEAD = Principal("u1", "s1", frozenset({Role.MAPPING_LEAD}), organisation_id="5A4")


def test_a_signed_token_gives_back_its_principal() -> None:
    token, claims = TokenSigner(PRIVATE).issue(LEAD)
    assert TokenVerifier(PUBLIC).verify(token) == LEAD
    assert claims.exp - claims.iat == 900


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda: TokenSigner(PRIVATE).issue(LEAD, now=time.time() - 3600)[0], id="expired"
        ),
        pytest.param(lambda: TokenSigner(generate_keypair()[0]).issue(LEAD)[0], id="another key"),
        pytest.param(lambda: TokenSigner(PRIVATE).issue(LEAD)[0][:-4] + "AAAA", id="tampered"),
        pytest.param(
            lambda: jwt.encode({"sub": "u1"}, "s" * 32, algorithm="HS256"), id="symmetric"
        ),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
def test_anything_else_is_unauthorised(forge) -> None:
    with pytest.raises(Unauthorised):
        TokenVerifier(PUBLIC).verify(forge())


def test_a_token_for_another_audience_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(PRIVATE, password=None)
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": "csm-registration",
            "aud": "elsewhere",
            "typ": "access",
            "sub": "u1",
            "sid": "s",
            "jti": "j",
            "iat": now,
            "exp": now + 60,
            "roles": ["national-admin"],
        },
        key,
        algorithm="EdDSA",
    )
    with pytest.raises(Unauthorised):
        TokenVerifier(PUBLIC).verify(token)


def test_others_data_is_not_found_unless_the_role_sees_all() -> None:
    ensure_can_see(LEAD, "5A4")
    with pytest.raises(NotFound):
        ensure_can_see(LEAD, "5A5")
    ensure_can_see(Principal("a", "s", frozenset({Role.AUDITOR})), "5A5")


def test_a_remembered_token_still_expires_and_a_tampered_one_is_not_remembered() -> None:
    verifier = TokenVerifier(PUBLIC, leeway_seconds=0)
    token, _ = TokenSigner(PRIVATE, ttl_seconds=2).issue(LEAD)  # iat is whole seconds
    assert verifier.verify(token) == LEAD
    assert verifier.verify(token) == LEAD  # from memory
    time.sleep(2.1)
    with pytest.raises(Unauthorised):
        verifier.verify(token)  # remembered, but expired
    with pytest.raises(Unauthorised):
        verifier.verify(token[:-4] + "AAAA")
