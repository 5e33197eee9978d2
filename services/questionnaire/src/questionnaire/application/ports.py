"""What the use cases need from the outside world, as Protocols; `adapters/` implements them
over PostgreSQL and the event store, and `bootstrap` wires the concrete classes in.

A port method that takes a `Connection` joins the caller's transaction (opened through
`Transactions`); the connection is opaque here: the application never runs SQL on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from csm_contracts.envelope import EventEnvelope
from csm_contracts.events.responses import QuestionnaireIssued
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.store import AppendContext

from ..domain.cycle import CycleState, ReturnState
from ..domain.owed import KnownOrganisation, KnownService
from ..domain.questionnaire import Questionnaire


@dataclass(frozen=True)
class Loaded:
    """A questionnaire with the cycle and return it belongs to, read together."""

    questionnaire: Questionnaire
    cycle: CycleState
    ret: ReturnState
    #: The organisation's name as registration last told it (None if not heard of yet).
    organisation_name: str | None = None

    def with_questionnaire(self, questionnaire: Questionnaire) -> Loaded:
        """The same cycle, return and organisation with the questionnaire as it is now."""
        return replace(self, questionnaire=questionnaire)


@dataclass(frozen=True)
class DelegationRecord:
    """One delegation ever made (so an old link gets a clear answer about why it stopped)."""

    id: str
    questionnaire_id: str
    email: str
    status: str
    expires_at: datetime
    delegated_by: str
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class ReturnRecord:
    """An organisation's return as the national team lists it."""

    cycle: str
    organisation_id: str
    version: int
    extension_until: datetime | None
    reopened: bool
    signed_off_at: datetime | None
    signed_off_by: str | None
    sign_offs: int
    updated_at: datetime


class Activity(Protocol):
    """Counts the domain actions done, for the service's `/metrics`: each is called once the
    action's append has committed, never for one refused. A save is the hot path: an
    implementation must do no more than bump a counter."""

    def saved(self) -> None:
        """Answers were saved (one save, however many answers it changed)."""
        ...

    def submitted(self) -> None:
        """A questionnaire was submitted."""
        ...

    def signed_off(self) -> None:
        """An organisation's return was signed off."""
        ...


class Uncounted:
    """An `Activity` that counts nothing (use cases built without metrics, as in unit tests)."""

    def saved(self) -> None:
        pass

    def submitted(self) -> None:
        pass

    def signed_off(self) -> None:
        pass


class Transactions(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A connection in a transaction, committed when the block ends without an error."""
        ...


class QuestionnaireRepository(Protocol):
    """Questionnaire instances: their streams, and the rows that cache them."""

    async def load(self, questionnaire_id: str, conn: Connection | None = None) -> Loaded:
        """The questionnaire as its stream stands, with its cycle and return (`NotFound`)."""
        ...

    async def find(self, questionnaire_id: str, conn: Connection) -> Questionnaire | None: ...

    async def of_return(
        self, cycle: str, organisation_id: str, conn: Connection | None = None
    ) -> list[Questionnaire]:
        """Every questionnaire an organisation was issued for a cycle, as it stands now."""
        ...

    async def search(
        self, cycle: str | None, organisation_id: str | None, group_id: str | None
    ) -> list[Questionnaire]: ...

    async def save(
        self,
        before: Questionnaire,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
        conn: Connection | None = None,
    ) -> tuple[Questionnaire, list[EventEnvelope]]:
        """Append `events` at `before.version`: `ConcurrencyConflict` if anything came between,
        `ReturnLocked` if that was (or the state is) a sign-off."""
        ...

    async def append_many(
        self,
        conn: Connection,
        changes: Sequence[tuple[Questionnaire, Sequence[EventPayload]]],
        context: AppendContext,
    ) -> None:
        """Append each questionnaire's events at the version given, all or none, in one go."""
        ...

    def remember(self, questionnaires: Sequence[Questionnaire]) -> None:
        """States known committed, worth caching."""
        ...

    async def issue(
        self,
        conn: Connection,
        events: Mapping[str, QuestionnaireIssued],
        context: AppendContext,
        at: datetime,
    ) -> int:
        """Start the streams of `events` (by questionnaire id) not started yet; how many."""
        ...

    async def events(
        self, questionnaire_id: str, after_version: int = 0
    ) -> list[EventEnvelope]: ...

    async def delegation(self, delegation_id: str) -> DelegationRecord | None: ...

    async def delegations(self, questionnaire_id: str) -> list[DelegationRecord]: ...


class CycleRepository(Protocol):
    """Cycles and organisations' returns: their streams and rows."""

    async def find(self, cycle: str, conn: Connection | None = None) -> CycleState | None: ...

    async def get(self, cycle: str, conn: Connection | None = None) -> CycleState:
        """The cycle, or `NotFound`."""
        ...

    async def all(self) -> list[CycleState]: ...

    async def not_issued(self) -> list[str]:
        """Cycles in data entry whose owed questionnaires are not all issued yet."""
        ...

    async def owing(self, conn: Connection) -> list[str]:
        """Cycles in which questionnaires are owed (data entry opened, not yet published)."""
        ...

    async def mark_issued(self, conn: Connection, cycle: str) -> None: ...

    async def lock_issuing(self, conn: Connection) -> None:
        """Hold, until `conn`'s transaction ends, the right to decide who is owed what: taken
        before reading which cycles are open when an organisation or service becomes known, and
        before reading the registry to issue, so neither misses what the other is committing."""
        ...

    async def append(
        self,
        conn: Connection,
        before: CycleState | None,
        cycle: str,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> CycleState: ...

    async def load_return(
        self, cycle: str, organisation_id: str, conn: Connection | None = None
    ) -> ReturnState: ...

    async def append_return(
        self,
        conn: Connection,
        before: ReturnState,
        events: Sequence[EventPayload],
        context: AppendContext,
        at: datetime,
    ) -> ReturnState: ...

    async def returns(self, cycle: str) -> list[ReturnRecord]: ...

    async def last_sign_off(
        self, conn: Connection, cycle: str, organisation_id: str
    ) -> datetime | None:
        """When the return was last signed off (before any reopening), if ever."""
        ...

    async def last_sign_off_id(
        self, conn: Connection, cycle: str, organisation_id: str
    ) -> str | None:
        """The event id of the return's last sign-off, if ever signed off."""
        ...

    async def stream_heads(self, conn: Connection, stream_ids: Sequence[str]) -> dict[str, str]:
        """The hash at the head of each stream that has events."""
        ...


class Registry(Protocol):
    """What registration told us about organisations and mapped services: who owes what."""

    async def organisations(
        self, conn: Connection, organisation_id: str | None = None
    ) -> list[KnownOrganisation]: ...

    async def services(
        self,
        conn: Connection,
        cycle: str,
        organisation_id: str | None = None,
        service_id: str | None = None,
    ) -> list[KnownService]:
        """Services mapped in `cycle` and not withdrawn."""
        ...

    async def is_known(self, organisation_id: str) -> bool: ...

    async def name_of(self, conn: Connection, organisation_id: str) -> str | None: ...

    async def organisation_registered(
        self,
        conn: Connection,
        code: str,
        name: str,
        kind: str,
        region: str,
        partnership_areas: Sequence[str],
    ) -> None: ...

    async def organisation_renamed(self, conn: Connection, code: str, name: str) -> None: ...

    async def areas_changed(
        self, conn: Connection, code: str, partnership_areas: Sequence[str]
    ) -> None: ...

    async def service_mapped(
        self, conn: Connection, service: KnownService, camhs: bool
    ) -> None: ...

    async def service_revised(
        self, conn: Connection, service_id: str, changes: Sequence[tuple[str, object]]
    ) -> None:
        """Apply (field, new value) changes in order to the service's `name`, `group_id` or
        `camhs` (other fields are not kept)."""
        ...

    async def service_withdrawn(self, conn: Connection, service_id: str) -> None: ...


@dataclass(frozen=True)
class CarriedFrom:
    """The record a carried-forward service was carried from: its id, in that cycle."""

    service_id: str
    cycle: str


class CarriedServices(Protocol):
    """Which services were carried forward, and from what (what registration told us)."""

    async def carried_from(self, service_id: str) -> CarriedFrom | None:
        """The record `service_id` was carried forward from; None for a service registered
        new (or carried before the link was kept)."""
        ...
