"""The organisation aggregate. No I/O: it decides which events a command causes.

An organisation's code is its identity (one stream per code, so a code is registered once).
Its kind, region and lead organisation are fixed at registration; its name and its
partnership areas change later, each change an event with the old and the new value; the
parts of a split PCT are linked to each other, once and for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from csm_contracts.events import OrganisationKind, OrganisationRegistered, Region
from csm_contracts.events.registration import (
    OrganisationLinked,
    OrganisationRenamed,
    PartnershipAreasChanged,
)
from csm_contracts.registry import EventPayload
from csm_kernel.errors import ConcurrencyConflict, Conflict, InvalidInput, NotFound
from csm_kernel.event_sourcing import Recorded

from .commands import ChangePartnershipAreas, RegisterOrganisation, RenameOrganisation
from .organisation_rules import (
    PCT_PARTS,
    Problem,
    area_problems,
    invalid,
    name_reason,
    normalise_areas,
    reference_problems,
    registration_problems,
    without_repeats,
)


def stream_id_for(code: str) -> str:
    """One stream per organisation, named by its code, so a code can only be registered once."""
    return f"organisation-{code}"


class StaleOrganisation(ConcurrencyConflict):
    """The caller changed an organisation from a version that is no longer current (409)."""

    def __init__(self, code: str, expected: int, actual: int | None = None) -> None:
        super().__init__(stream_id_for(code), expected, actual)
        now = "" if actual is None else f", it is at version {actual} now"
        self.message = (
            f"organisation {code} has changed since you read it (you sent version {expected}"
            f"{now}); reload it and try again"
        )
        self.args = (self.message,)
        self.details = [{"field": "expected_version", "reason": self.message}]


@dataclass(frozen=True)
class Organisation:
    """An organisation as its events have made it (immutable: `evolve` makes the next one).

    The methods under "decisions" are pure: state and command in, the events it causes out
    (or a domain error); they never change the state."""

    code: str
    version: int = 0
    name: str | None = None
    kind: OrganisationKind | None = None
    region: Region | None = None
    #: Never changed in place: `evolve` gives the next state a new list.
    partnership_areas: list[str] = field(default_factory=list)
    linked_organisation_id: str | None = None
    mapped_by: str | None = None

    @property
    def registered(self) -> bool:
        return self.version > 0

    @property
    def stream_id(self) -> str:
        return stream_id_for(self.code)

    # --- decisions ---------------------------------------------------------------------------

    def register(self, cmd: RegisterOrganisation) -> list[EventPayload]:
        """`OrganisationRegistered`, if the code is free and the details keep the rules that
        need no other organisation (see `organisation_rules`)."""
        if cmd.code != self.code:
            raise InvalidInput.field("code", f"{cmd.code} is not organisation {self.code}")
        if self.registered:
            raise Conflict(f"organisation code {self.code} is already registered")
        problems = registration_problems(cmd)
        if problems:
            raise invalid(problems)
        return [
            OrganisationRegistered(
                organisation_id=cmd.code,
                code=cmd.code,
                name=cmd.name.strip(),
                kind=cmd.kind,
                region=cmd.region,
                partnership_areas=list(normalise_areas(cmd.code, cmd.kind, cmd.partnership_areas)),
                linked_organisation_id=cmd.linked_organisation_id,
                mapped_by=cmd.mapped_by,
            )
        ]

    def rename(self, cmd: RenameOrganisation) -> list[EventPayload]:
        """`OrganisationRenamed`, or nothing if the name is the same."""
        self._check_current(cmd.code, cmd.expected_version)
        name = cmd.name.strip()
        reason = name_reason(name)
        if reason is not None:
            raise InvalidInput.field("name", reason)
        if name == self.name:
            return []
        assert self.name is not None
        return [OrganisationRenamed(organisation_id=self.code, old_name=self.name, new_name=name)]

    def change_partnership_areas(self, cmd: ChangePartnershipAreas) -> list[EventPayload]:
        """`PartnershipAreasChanged`, or nothing if the (normalised) areas are the same."""
        self._check_current(cmd.code, cmd.expected_version)
        problems = area_problems(self.code, self.kind, cmd.partnership_areas)
        if problems:
            raise invalid(problems)
        return self._areas_events(cmd.partnership_areas)

    def link(self, other: str) -> list[EventPayload]:
        """`OrganisationLinked` to `other`, or nothing if already linked to it."""
        if not self.registered:
            raise NotFound(f"no organisation with code {self.code}")
        if self.kind not in PCT_PARTS:
            raise InvalidInput.field(
                "linked_organisation_id", f"{self.code} is not a part of a split PCT"
            )
        if self.linked_organisation_id == other:
            return []
        if self.linked_organisation_id is not None:
            raise Conflict(
                f"{self.code} is already linked to {self.linked_organisation_id}; a link "
                "cannot be changed"
            )
        return [OrganisationLinked(organisation_id=self.code, linked_organisation_id=other)]

    def reconciliation_problems(self, cmd: RegisterOrganisation) -> list[Problem]:
        """Why this organisation cannot be made to look like `cmd` (a bulk-import row)."""
        problems = registration_problems(cmd)
        if not self.registered:
            return problems
        for name, now, wanted in (
            ("kind", self.kind, cmd.kind),
            ("region", self.region, cmd.region),
            ("mapped_by", self.mapped_by, cmd.mapped_by),
        ):
            if now != wanted and not any(p.field == name for p in problems):
                shown = "none" if now is None else str(now)
                problems.append(
                    Problem(name, f"cannot change: {self.code} is registered with {shown}")
                )
        link = cmd.linked_organisation_id
        if (
            link is not None
            and self.linked_organisation_id not in (None, link)
            and not any(p.field == "linked_organisation_id" for p in problems)
        ):
            problems.append(
                Problem(
                    "linked_organisation_id",
                    f"cannot change: {self.code} is already linked to "
                    f"{self.linked_organisation_id}",
                )
            )
        return problems

    def reconcile(self, cmd: RegisterOrganisation) -> list[EventPayload]:
        """The events that make this organisation look like `cmd`: its registration if it is
        new, else a rename, an areas change and a link where they differ (nothing if the same).

        A blank link leaves an existing link alone. Kind, region and lead organisation cannot
        change (422)."""
        if cmd.code != self.code:
            raise InvalidInput.field("code", f"{cmd.code} is not organisation {self.code}")
        if not self.registered:
            return self.register(cmd)
        problems = self.reconciliation_problems(cmd)
        if problems:
            raise invalid(problems)
        events: list[EventPayload] = []
        name = cmd.name.strip()
        if name != self.name:
            assert self.name is not None
            events.append(
                OrganisationRenamed(organisation_id=self.code, old_name=self.name, new_name=name)
            )
        events.extend(self._areas_events(cmd.partnership_areas))
        if cmd.linked_organisation_id is not None and self.linked_organisation_id is None:
            events.append(
                OrganisationLinked(
                    organisation_id=self.code, linked_organisation_id=cmd.linked_organisation_id
                )
            )
        return events

    def _areas_events(self, areas: Iterable[str]) -> list[EventPayload]:
        new = list(normalise_areas(self.code, self.kind, areas))
        if new == self.partnership_areas:
            return []
        return [
            PartnershipAreasChanged(
                organisation_id=self.code,
                old_partnership_areas=list(self.partnership_areas),
                new_partnership_areas=new,
            )
        ]

    def _check_current(self, code: str, expected_version: int) -> None:
        if code != self.code:
            raise InvalidInput.field("code", f"{code} is not organisation {self.code}")
        if not self.registered:
            raise NotFound(f"no organisation with code {self.code}")
        if expected_version != self.version:
            raise StaleOrganisation(self.code, expected_version, self.version)

    def evolved(self, events: Iterable[EventPayload]) -> Organisation:
        """This organisation with `events` applied (this one is left as it is)."""
        org = self
        for event in events:
            org = evolve(org, event)
        return org

    @classmethod
    def from_history(cls, code: str, events: Iterable[EventPayload]) -> Organisation:
        return cls(code=code).evolved(events)


def evolve(org: Organisation | None, event: EventPayload) -> Organisation:
    """The organisation once `event` has happened to it (`None`: before its first event)."""
    if org is None:
        org = Organisation(code=event.organisation_id)
    if isinstance(event, OrganisationRegistered):
        org = replace(
            org,
            name=event.name,
            kind=event.kind,
            region=event.region,
            partnership_areas=list(event.partnership_areas),
            linked_organisation_id=event.linked_organisation_id,
            mapped_by=event.mapped_by,
        )
    elif isinstance(event, OrganisationRenamed):
        org = replace(org, name=event.new_name)
    elif isinstance(event, PartnershipAreasChanged):
        org = replace(org, partnership_areas=list(event.new_partnership_areas))
    elif isinstance(event, OrganisationLinked):
        org = replace(org, linked_organisation_id=event.linked_organisation_id)
    return replace(org, version=org.version + 1)


def evolve_recorded(org: Organisation | None, recorded: Recorded[EventPayload]) -> Organisation:
    """`evolve` as the kernel's repository folds a stream (at the recorded version)."""
    return replace(evolve(org, recorded.payload), version=recorded.stream_version)


@dataclass(frozen=True)
class OrganisationChange:
    """Events for one organisation's stream, decided from `before` (whose version the append
    expects). A command that touches two organisations (linking a PCT's parts) makes two."""

    before: Organisation
    events: tuple[EventPayload, ...]

    @property
    def code(self) -> str:
        return self.before.code

    @property
    def expected_version(self) -> int:
        return self.before.version

    def after(self) -> Organisation:
        """The organisation once the events are applied."""
        return self.before.evolved(self.events)


def decide_registration(
    org: Organisation, cmd: RegisterOrganisation, known: Mapping[str, Organisation]
) -> list[OrganisationChange]:
    """Register `cmd` as `org`, checking the organisations it names against `known`; a link to
    the other part of a split PCT is recorded on that part too, so the link is mutual.

    Every problem, of the details and of the references, is reported together (422)."""
    if cmd.code != org.code:
        raise InvalidInput.field("code", f"{cmd.code} is not organisation {org.code}")
    if org.registered:
        raise Conflict(f"organisation code {org.code} is already registered")
    problems = registration_problems(cmd)
    problems.extend(without_repeats(reference_problems(cmd, known), problems))
    if problems:
        raise invalid(problems)
    changes = [OrganisationChange(org, tuple(org.register(cmd)))]
    link = cmd.linked_organisation_id
    if link is not None:
        other = known[link]
        events = other.link(cmd.code)
        if events:
            changes.append(OrganisationChange(other, tuple(events)))
    return changes
