"""The access-token format every service verifies the same way.

Registration signs access tokens for accounts (JWT, EdDSA/Ed25519); every service verifies them
with registration's public key (`csm_kernel.auth`). Delegates have no account: the
questionnaire service gives them opaque, questionnaire-scoped tokens of its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The `iss` of every access token.
ISSUER: Final = "csm-registration"
#: The `aud` of every access token: all CSM services.
AUDIENCE: Final = "csm"
#: The JWS algorithm (Ed25519 signatures).
ALGORITHM: Final = "EdDSA"


class Role(StrEnum):
    """What an account may do. A token carries every role its account holds."""

    NATIONAL_ADMIN = "national-admin"
    MAPPING_LEAD = "mapping-lead"
    GROUP_OWNER = "group-owner"
    REGULATOR = "regulator"
    AUDITOR = "auditor"


class AccessClaims(BaseModel):
    """The claims of an access token.

    `org` is the organisation a mapping lead or group owner acts for; `group` the service
    group a group owner owns; `sid` the sign-in session (signing out revokes it).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: Literal["csm-registration"] = ISSUER
    aud: Literal["csm"] = AUDIENCE
    typ: Literal["access"] = "access"
    sub: str = Field(description="the account id")
    sid: str = Field(description="the sign-in session id")
    jti: str
    iat: int
    exp: int
    roles: list[Role]
    org: str | None = None
    group: str | None = None
