"""Events the registration service publishes about the directory of services.

One stream per service record and cycle, `service-<uuid>`. Carry-forward into a new cycle
starts a *new* stream (`ServiceCarriedForward`) linked to last year's record by
`previous_service_id`; last year's stream is left exactly as it was.

Every event is keyed by the provider organisation's code (`organisation_id`), which never
changes for a record, so one service's events stay in order on Kafka.

Cross-field rules (age minimum not above maximum, a tier only for a CAMHS service, a valid
email) are the registration service's to enforce before an event is written; the models here
hold only per-field bounds, so an event that was valid when written stays readable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ..registry import REGISTRY, RegistrationEvent

#: A mapping cycle: `2009-10` (the second year is the first plus one, two digits).
CYCLE_PATTERN = r"^\d{4}-\d{2}$"
#: Youngest and oldest age (in years) a client group may cover.
MIN_AGE, MAX_AGE = 0, 25


class ServiceType(StrEnum):
    """Where a service sits in the spectrum of provision."""

    UNIVERSAL = "universal"
    TARGETED = "targeted"
    SPECIALIST = "specialist"


class ServiceStatus(StrEnum):
    """Where a service record stands in its cycle."""

    ACTIVE = "active"
    #: Carried forward from last cycle; the lead has yet to confirm, revise or withdraw it.
    TO_BE_CHECKED = "to-be-checked"
    WITHDRAWN = "withdrawn"


class ClientGroup(BaseModel):
    """Who a service is for: an age range in years (inclusive) and their needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    age_min: int = Field(ge=MIN_AGE, le=MAX_AGE)
    age_max: int = Field(ge=MIN_AGE, le=MAX_AGE)
    needs: list[str] = Field(
        default_factory=list, description="e.g. learning disabilities, looked-after children"
    )


class ServiceContact(BaseModel):
    """Who to contact about a service (a work contact, published in the directory)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    phone: str | None = Field(default=None, max_length=40)


class ServiceFields(RegistrationEvent):
    """What a service record says (not an event: the fields registered and carried share)."""

    organisation_id: str = Field(description="the provider organisation's code; the Kafka key")
    service_id: UUID
    cycle: str = Field(pattern=CYCLE_PATTERN, examples=["2009-10"])
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(max_length=4000)
    service_type: ServiceType
    client_group: ClientGroup
    camhs: bool = Field(default=False, description="is it a CAMHS service?")
    camhs_tier: int | None = Field(
        default=None, ge=1, le=4, description="CAMHS tier 1-4; only for a CAMHS service"
    )
    group_id: str | None = Field(
        default=None, description="the locality / service group the service belongs to"
    )
    provider_id: str = Field(description="the provider organisation's code")
    commissioner_ids: list[str] = Field(
        default_factory=list, description="codes of the commissioning organisations"
    )
    contact: ServiceContact


@REGISTRY.register
class ServiceRegistered(ServiceFields):
    """A service was added to the directory for a cycle (status active)."""


class FieldChange(BaseModel):
    """One field of a service record, before and after."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    field: str = Field(
        description="dotted path as in the record: name, client_group.age_min, contact.email, "
        "status, ..."
    )
    old: Any = None
    new: Any = None


@REGISTRY.register
class ServiceRevised(RegistrationEvent):
    """A service record was changed: every changed field, old and new (status too, when a
    revision also completes the check of a carried-forward record)."""

    organisation_id: str = Field(description="the provider organisation's code; the Kafka key")
    service_id: UUID
    cycle: str = Field(pattern=CYCLE_PATTERN)
    changes: list[FieldChange] = Field(min_length=1)


@REGISTRY.register
class ServiceWithdrawn(RegistrationEvent):
    """A service left the directory for this cycle (it is no longer provided, or never was)."""

    organisation_id: str = Field(description="the provider organisation's code; the Kafka key")
    service_id: UUID
    cycle: str = Field(pattern=CYCLE_PATTERN)
    reason: str = Field(min_length=1, max_length=1000)


@REGISTRY.register
class ServiceConfirmed(RegistrationEvent):
    """A carried-forward service was checked and confirmed unchanged for this cycle."""

    organisation_id: str = Field(description="the provider organisation's code; the Kafka key")
    service_id: UUID
    cycle: str = Field(pattern=CYCLE_PATTERN)


@REGISTRY.register
class ServiceCarriedForward(ServiceFields):
    """Last cycle's active service, carried into a new cycle as a new record "to be checked".

    The fields are last year's record as it stood when carried; `previous_service_id` is that
    record (its stream is unchanged). The new `service_id` is derived from the previous one
    and the cycle, so carrying forward twice never makes a second record.
    """

    previous_service_id: UUID
    previous_cycle: str = Field(pattern=CYCLE_PATTERN)
