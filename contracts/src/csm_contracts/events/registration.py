"""Events the registration service publishes."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ..registry import REGISTRY, RegistrationEvent

#: ODS-style organisation code: capital letters and digits, at least one letter (3-5 long).
ORGANISATION_CODE_PATTERN = r"^[A-Z0-9]*[A-Z][A-Z0-9]*$"


class OrganisationKind(StrEnum):
    """The kinds of organisation that map their children's services."""

    PCT = "pct"
    PCT_COMMISSIONING = "pct-commissioning"
    PCT_PROVIDER = "pct-provider"
    LOCAL_AUTHORITY = "local-authority"
    NHS_TRUST_ACUTE = "nhs-trust-acute"
    NHS_TRUST_MENTAL_HEALTH = "nhs-trust-mental-health"
    NHS_TRUST_COMMUNITY = "nhs-trust-community"
    NHS_TRUST_AMBULANCE = "nhs-trust-ambulance"
    THIRD_SECTOR = "third-sector"
    PRIVATE_PROVIDER = "private-provider"


class Region(StrEnum):
    """The nine English regions."""

    NORTH_EAST = "north-east"
    NORTH_WEST = "north-west"
    YORKSHIRE_AND_THE_HUMBER = "yorkshire-and-the-humber"
    EAST_MIDLANDS = "east-midlands"
    WEST_MIDLANDS = "west-midlands"
    EAST_OF_ENGLAND = "east-of-england"
    LONDON = "london"
    SOUTH_EAST = "south-east"
    SOUTH_WEST = "south-west"


@REGISTRY.register
class OrganisationRegistered(RegistrationEvent):
    """An organisation joined the mapping: its code is now taken for good."""

    organisation_id: str = Field(description="the organisation code; also the Kafka key")
    code: str = Field(pattern=ORGANISATION_CODE_PATTERN, min_length=3, max_length=5)
    name: str = Field(min_length=1, max_length=200)
    kind: OrganisationKind
    region: Region
    partnership_areas: list[str] = Field(
        default_factory=list, description="codes of the LA partnership areas it belongs to"
    )
    linked_organisation_id: str | None = Field(
        default=None, description="the other half of a PCT split into commissioning and provision"
    )
    mapped_by: str | None = Field(
        default=None,
        description=(
            "code of the lead organisation that maps a third-sector or private provider's "
            "services (set for those kinds only; absent before it was recorded)"
        ),
    )


@REGISTRY.register
class OrganisationRenamed(RegistrationEvent):
    """An organisation's name changed (its code, which is its identity, did not)."""

    organisation_id: str = Field(description="the organisation code; also the Kafka key")
    old_name: str = Field(description="the name before the change")
    new_name: str = Field(min_length=1, max_length=200, description="the name from now on")


@REGISTRY.register
class PartnershipAreasChanged(RegistrationEvent):
    """The LA partnership areas (Children's Trust arrangements) an organisation belongs to
    changed. Both lists are complete, sorted and free of duplicates."""

    organisation_id: str = Field(description="the organisation code; also the Kafka key")
    old_partnership_areas: list[str] = Field(description="the area codes before the change")
    new_partnership_areas: list[str] = Field(description="the area codes from now on")


@REGISTRY.register
class OrganisationLinked(RegistrationEvent):
    """The other part of a split PCT was registered and named this organisation as its
    counterpart: the two parts are now linked to each other (a link is never undone)."""

    organisation_id: str = Field(description="the organisation code; also the Kafka key")
    linked_organisation_id: str = Field(description="the code of the other part")
