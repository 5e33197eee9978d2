"""`GET /.well-known/jwks.json`: the public keys that sign the regulators' feed.

Every message on `csm.public.signoffs` carries `ce_signature`, a detached JWS (EdDSA) over its
value; this JWK Set holds the key that signs now and every earlier key whose signatures may
still be in the topic (docs/regulators.md). It is public: no account needed. The key directory
is read again when it changes, so a rotation (`csm-questionnaire signing-keys rotate`) shows
here without a restart. Clients may cache it for `max-age` seconds and should fetch it again
when a message names a `kid` they do not hold.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from csm_kernel.signing import KeyDirectory

router = APIRouter(tags=["signing keys"])

#: How long a client may keep the key set (a new key shows within this; see the module doc).
MAX_AGE_SECONDS = 300


class JWK(BaseModel):
    """An Ed25519 public key (RFC 8037)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="the public key, base64url")
    kid: str = Field(description="the key's RFC 7638 thumbprint (SHA-256), as `kid` in a JWS")
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class JWKSet(BaseModel):
    """The published signing keys, the active one first (RFC 7517)."""

    keys: list[JWK]


@router.get(
    "/.well-known/jwks.json",
    response_model=JWKSet,
    summary="The public keys that sign the regulators' feed",
    responses={
        200: {"description": "The JWK Set, with `Cache-Control: public, max-age=300` and an ETag."},
        304: {"description": "Not modified: the `If-None-Match` ETag is still current."},
    },
)
async def jwks(request: Request) -> Response:
    keys: KeyDirectory = request.app.state.signing_keys
    body = json.dumps(keys.ring().jwks(), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": f"public, max-age={MAX_AGE_SECONDS}", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
