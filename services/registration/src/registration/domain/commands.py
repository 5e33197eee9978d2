"""Commands the registration service accepts: imperative, validated at the edge."""

from __future__ import annotations

from dataclasses import dataclass

from csm_contracts.events import OrganisationKind, Region


@dataclass(frozen=True)
class RegisterOrganisation:
    """Register a new organisation (or, in a bulk import, make one look like this)."""

    code: str
    name: str
    kind: OrganisationKind
    region: Region
    partnership_areas: tuple[str, ...] = ()
    linked_organisation_id: str | None = None
    #: The lead organisation that maps a third-sector or private provider.
    mapped_by: str | None = None

    def references(self) -> set[str]:
        """Codes of the other organisations this command names."""
        named = {*self.partnership_areas, self.linked_organisation_id, self.mapped_by}
        return {c for c in named if c is not None and c != self.code}


@dataclass(frozen=True)
class RenameOrganisation:
    """Give an organisation a new name; `expected_version` is the version the caller read."""

    code: str
    name: str
    expected_version: int


@dataclass(frozen=True)
class ChangePartnershipAreas:
    """Replace the LA partnership areas an organisation belongs to (the complete new list)."""

    code: str
    partnership_areas: tuple[str, ...]
    expected_version: int
