"""The organisation aggregate. No I/O: it decides which events a command causes."""

from __future__ import annotations

from dataclasses import dataclass, field

from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_contracts.registry import EventPayload
from csm_kernel.errors import Conflict, InvalidInput

from .commands import RegisterOrganisation


def stream_id_for(code: str) -> str:
    """One stream per organisation, named by its code, so a code can only be registered once."""
    return f"organisation-{code}"


@dataclass
class Organisation:
    """An organisation as its events have made it."""

    code: str
    version: int = 0
    name: str | None = None
    kind: OrganisationKind | None = None
    region: Region | None = None
    partnership_areas: list[str] = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return self.version > 0

    def register(self, cmd: RegisterOrganisation) -> list[EventPayload]:
        if cmd.code != self.code:
            raise InvalidInput.field("code", f"{cmd.code} is not organisation {self.code}")
        if self.registered:
            raise Conflict(f"organisation code {self.code} is already registered")
        if cmd.linked_organisation_id == cmd.code:
            raise InvalidInput.field(
                "linked_organisation_id", "an organisation cannot be linked to itself"
            )
        return [
            OrganisationRegistered(
                organisation_id=cmd.code,
                code=cmd.code,
                name=cmd.name,
                kind=cmd.kind,
                region=cmd.region,
                partnership_areas=list(cmd.partnership_areas),
                linked_organisation_id=cmd.linked_organisation_id,
            )
        ]

    def apply(self, event: EventPayload) -> None:
        if isinstance(event, OrganisationRegistered):
            self.name = event.name
            self.kind = event.kind
            self.region = event.region
            self.partnership_areas = list(event.partnership_areas)
        self.version += 1

    @classmethod
    def from_history(cls, code: str, events: list[EventPayload]) -> Organisation:
        org = cls(code=code)
        for event in events:
            org.apply(event)
        return org
