"""The aggregates' streams through the kernel's event-sourced repository: stored events are
decoded through the contract's upcasters and folded with the domain's `evolve`."""

from __future__ import annotations

from csm_kernel.event_sourcing import EventSourcedRepository
from csm_kernel.store import EventStore

from ..domain import organisation, service_record
from ..domain.organisation import Organisation
from ..domain.service_record import ServiceRecord


def organisation_events(store: EventStore) -> EventSourcedRepository[Organisation]:
    """Organisations as their streams make them."""
    return EventSourcedRepository(store, organisation.evolve_recorded, kind="organisation")


def service_events(store: EventStore) -> EventSourcedRepository[ServiceRecord]:
    """Service records as their streams make them."""
    return EventSourcedRepository(store, service_record.evolve_recorded, kind="service")
