"""Events the registration service publishes about accounts, mapping leads and service groups.

No password, token or set-up link ever goes into one of these. Accounts of the national team,
regulators and auditors belong to no organisation: their events carry `organisation_id`
"NATIONAL" (the Kafka key must be something).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, EmailStr, Field

from ..auth import Role
from ..registry import REGISTRY, RegistrationEvent

#: The `organisation_id` of events about accounts that belong to no organisation.
NATIONAL = "NATIONAL"
#: The purpose a forgotten password's link token is made for (`csm_kernel.links`): a set-up
#: link's token never passes for a reset link's, nor the other way round.
PASSWORD_RESET_LINK = "password-reset"  # noqa: S105 - a purpose label, not a secret


@REGISTRY.register
class AccountCreated(RegistrationEvent):
    """An account exists and a set-up link is on its way; it cannot sign in until set up."""

    account_id: str
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role]
    group_id: str | None = None
    created_by: str
    setup_id: str | None = Field(
        default=None,
        description="names the set-up link (not a secret: the link's token is an HMAC of it "
        "with a key only registration and notification hold)",
    )
    setup_expires_at: AwareDatetime | None = Field(
        default=None, description="when the set-up link stops working"
    )
    group_name: str | None = Field(
        default=None, description="the service group a group owner's account is for, by name"
    )


@REGISTRY.register
class AccountActivated(RegistrationEvent):
    """The account holder followed the set-up link and chose a password."""

    account_id: str


@REGISTRY.register
class AccountLocked(RegistrationEvent):
    """Too many failed sign-ins: the account refuses sign-in until `until`."""

    account_id: str
    failed_attempts: int = Field(ge=1)
    until: AwareDatetime


@REGISTRY.register
class AccountDisabled(RegistrationEvent):
    """The account can no longer sign in (e.g. a replaced mapping lead); its sessions end."""

    account_id: str
    reason: str


@REGISTRY.register
class MappingLeadNominated(RegistrationEvent):
    """An organisation's mapping lead is now this account (replacing the previous one, if any)."""

    account_id: str
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    replaces_account_id: str | None = None
    nominated_by: str


@REGISTRY.register
class ServiceGroupDefined(RegistrationEvent):
    """A mapping lead defined a group of services (a locality or an area of delivery)."""

    group_id: str
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["locality", "area-of-delivery"]
    defined_by: str


@REGISTRY.register
class ServiceGroupOwnerNamed(RegistrationEvent):
    """A staff member owns a service group and gets a sign-in that sees only that group."""

    group_id: str
    account_id: str
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    named_by: str


@REGISTRY.register
class SetUpLinkReissued(RegistrationEvent):
    """An account not set up yet has a new set-up link (the last one expired or was lost),
    asked for by its holder or the national team; every earlier link stops working."""

    account_id: str
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role]
    group_id: str | None = None
    group_name: str | None = None
    setup_id: str = Field(
        description="names the new link (not a secret: its token is an HMAC of it with a key "
        "only registration and notification hold)"
    )
    setup_expires_at: AwareDatetime
    requested_by: str = Field(
        description="`self` when the account holder asked, else the national admin's actor"
    )


@REGISTRY.register
class PasswordResetRequested(RegistrationEvent):
    """The holder of an account asked for a link to choose a new password (a forgotten
    password); every earlier reset link stops working. Nothing is appended for an address
    with no account, so the request's answer says nothing about which addresses have one."""

    account_id: str
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    reset_id: str = Field(
        description="names the link (not a secret: its token is an HMAC of it, for the "
        "purpose `password-reset`, with a key only registration and notification hold)"
    )
    reset_expires_at: AwareDatetime


@REGISTRY.register
class PasswordReset(RegistrationEvent):
    """The account holder chose a new password from a reset link; every session of the
    account has ended. The holder is told, in case it was not them."""

    account_id: str
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
