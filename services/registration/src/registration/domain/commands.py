"""Commands the registration service accepts: imperative, validated at the edge."""

from __future__ import annotations

from dataclasses import dataclass

from csm_contracts.events import OrganisationKind, Region


@dataclass(frozen=True)
class RegisterOrganisation:
    code: str
    name: str
    kind: OrganisationKind
    region: Region
    partnership_areas: tuple[str, ...] = ()
    linked_organisation_id: str | None = None
