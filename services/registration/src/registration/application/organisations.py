"""Organisation use cases: load, let the domain decide, save. Storage is behind a port.

`OrganisationRepository` is the port: the PostgreSQL adapter appends to the event store and
updates the organisation list (a read model) in one transaction; the in-memory adapter does the
same over `InMemoryEventStore`. The event store stays the truth: every append checks the
stream version the decision was made from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from csm_contracts.registry import EventPayload
from csm_kernel.errors import ConcurrencyConflict, Conflict, NotFound
from csm_kernel.event_sourcing import decode_event
from csm_kernel.observability import get_logger
from csm_kernel.store import AppendContext

from ..domain.commands import ChangePartnershipAreas, RegisterOrganisation, RenameOrganisation
from ..domain.organisation import (
    Organisation,
    OrganisationChange,
    StaleOrganisation,
    decide_registration,
    evolve_recorded,
    stream_id_for,
)
from ..domain.organisation_rules import area_reference_problems, invalid
from .ports import OrganisationFilter, OrganisationPage, OrganisationRepository

__all__ = [
    "HistoryEntry",
    "OrganisationFilter",
    "OrganisationPage",
    "OrganisationRepository",
    "get_organisation",
    "list_organisations",
    "organisation_history",
    "register_organisation",
    "update_organisation",
]

log = get_logger(__name__)


@dataclass(frozen=True)
class HistoryEntry:
    """One change in an organisation's history: what happened, when, by whom, and the values
    before and after for every field it changed."""

    version: int
    event: str
    occurred_at: datetime
    actor: str
    correlation_id: str
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)


async def get_organisation(repo: OrganisationRepository, code: str) -> Organisation:
    """A registered organisation, or `NotFound`."""
    org = await repo.load(code)
    if not org.registered:
        raise NotFound(f"no organisation with code {code}")
    return org


async def register_organisation(
    repo: OrganisationRepository, cmd: RegisterOrganisation, context: AppendContext
) -> Organisation:
    """Register an organisation; a link to the other part of a split PCT is made mutual."""
    org = await repo.load(cmd.code)
    if org.registered:
        raise Conflict(f"organisation code {cmd.code} is already registered")
    known = await repo.load_many(cmd.references())
    changes = decide_registration(org, cmd, known)
    try:
        await repo.save(changes, context)
    except ConcurrencyConflict as exc:
        if exc.stream_id == stream_id_for(cmd.code):
            # Someone registered the same code between our read and our append.
            raise Conflict(f"organisation code {cmd.code} is already registered") from None
        raise Conflict(
            f"{cmd.linked_organisation_id} changed while {cmd.code} was being linked to it; "
            "try again"
        ) from None
    log.info("organisation registered", organisation_id=cmd.code, kind=cmd.kind.value)
    return changes[0].after()


async def update_organisation(
    repo: OrganisationRepository,
    code: str,
    expected_version: int,
    context: AppendContext,
    *,
    name: str | None = None,
    partnership_areas: Sequence[str] | None = None,
) -> Organisation:
    """Rename and/or change the partnership areas of an organisation, from the version the
    caller read (`StaleOrganisation`, 409, if it has changed since). Nothing that is the same
    is recorded; both changes are appended together or not at all."""
    org = await repo.load(code)
    if not org.registered:
        raise NotFound(f"no organisation with code {code}")
    events: list[EventPayload] = []
    if name is not None:
        events.extend(org.rename(RenameOrganisation(code, name, expected_version)))
    if partnership_areas is not None:
        areas = tuple(partnership_areas)
        events.extend(
            org.change_partnership_areas(ChangePartnershipAreas(code, areas, expected_version))
        )
        problems = area_reference_problems(code, areas, await repo.load_many(set(areas)))
        if problems:
            raise invalid(problems)
    if not events:
        return org
    change = OrganisationChange(org, tuple(events))
    try:
        await repo.save([change], context)
    except ConcurrencyConflict:
        raise StaleOrganisation(code, expected_version) from None
    log.info(
        "organisation changed",
        organisation_id=code,
        events=[e.EVENT_TYPE for e in events],
    )
    return change.after()


async def list_organisations(
    repo: OrganisationRepository, query: OrganisationFilter
) -> OrganisationPage:
    """A page of the organisations that match the filter, in code order."""
    return await repo.search(query)


def _changes(before: Organisation, after: Organisation) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in (
        "name",
        "kind",
        "region",
        "partnership_areas",
        "linked_organisation_id",
        "mapped_by",
    ):
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            out[name] = {"old": old, "new": new}
    return out


async def organisation_history(repo: OrganisationRepository, code: str) -> list[HistoryEntry]:
    """Every change to an organisation, oldest first: who, when, and each field's old and new
    value. `NotFound` if it is not registered."""
    stored = await repo.stream(code)
    if not stored:
        raise NotFound(f"no organisation with code {code}")
    org = Organisation(code=code)
    entries = []
    for envelope in stored:
        after = evolve_recorded(org, decode_event(envelope))
        entries.append(
            HistoryEntry(
                version=envelope.stream_version,
                event=envelope.type.split(".", 1)[-1],
                occurred_at=envelope.occurred_at,
                actor=envelope.actor,
                correlation_id=envelope.correlation_id,
                changes=_changes(org, after),
            )
        )
        org = after
    return entries
