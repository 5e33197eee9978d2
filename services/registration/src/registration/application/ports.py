"""The application's ports: what its use cases need from storage, as `Protocol`s, and the plain
data that crosses them. Adapters (`registration.adapters`) implement them; `bootstrap` wires
the concrete ones in. Nothing here does I/O.

A method taking a `Connection` joins the caller's transaction (opened with `transaction()` of
the same port); the application passes it through and never runs SQL on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from csm_contracts.auth import Role
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationKind, Region
from csm_contracts.events.directory import ServiceStatus, ServiceType
from csm_contracts.registry import EventPayload
from csm_kernel.auth import Principal
from csm_kernel.database import Connection
from csm_kernel.errors import Forbidden
from csm_kernel.store import AppendContext

from ..domain.credentials import AddressFailures, ClientFailures
from ..domain.organisation import Organisation, OrganisationChange
from ..domain.returns import SignedOffReturn
from ..domain.service_record import ServiceDetails, ServiceRecord

# --- organisations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganisationFilter:
    """Which organisations a listing shows, a page at a time in code order."""

    region: Region | None = None
    kind: OrganisationKind | None = None
    #: Members of this LA partnership area.
    area: str | None = None
    #: Codes after this one (the previous page's last code).
    after: str | None = None
    #: The page of codes just before this one (the next page's first code): going back.
    before: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class OrganisationPage:
    items: list[Organisation]
    #: How many organisations match the filter, over all pages.
    total: int
    #: Pass as `after` for the next page; None on the last page.
    next_after: str | None
    #: Pass as `before` for the previous page; None on the first page.
    previous_before: str | None = None


class OrganisationRepository(Protocol):
    """Where organisations are kept: their streams (the truth) and the organisation list."""

    async def load(self, code: str) -> Organisation:
        """The organisation as its stream says (unregistered if the stream is empty)."""
        ...

    async def load_many(self, codes: Collection[str]) -> dict[str, Organisation]:
        """The registered organisations among `codes`."""
        ...

    async def save(self, changes: Sequence[OrganisationChange], context: AppendContext) -> None:
        """Append every change at the version it was decided from, all or nothing.

        Raises `ConcurrencyConflict` (naming the stream) if any stream has moved on."""
        ...

    async def search(self, query: OrganisationFilter) -> OrganisationPage:
        """A page of the organisation list."""
        ...

    async def stream(self, code: str) -> list[EventEnvelope]:
        """The organisation's events as stored."""
        ...


# --- the directory of services ---------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller may see and change in the directory."""

    everything: bool = False
    can_write: bool = False
    organisation_id: str | None = None
    #: Set for a group owner (who is not also a lead): only this group's records.
    group_id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        if principal.has(Role.NATIONAL_ADMIN):
            return cls(everything=True, can_write=True)
        if principal.has(Role.AUDITOR):
            return cls(everything=True, can_write=False)
        if principal.has(Role.MAPPING_LEAD) and principal.organisation_id:
            return cls(can_write=True, organisation_id=principal.organisation_id)
        if principal.has(Role.GROUP_OWNER) and principal.organisation_id and principal.group_id:
            return cls(
                can_write=True,
                organisation_id=principal.organisation_id,
                group_id=principal.group_id,
            )
        return cls()  # sees nothing

    @property
    def sees_nothing(self) -> bool:
        return not self.everything and self.organisation_id is None

    def covers(self, details: ServiceDetails) -> bool:
        """Is a record with these details within this caller's reach?"""
        if self.everything:
            return True
        if self.organisation_id is None or self.organisation_id not in details.organisation_ids:
            return False
        return self.group_id is None or details.group_id == self.group_id

    def ensure_can_write(self) -> None:
        if not self.can_write:
            raise Forbidden("your role does not allow changes to the directory")


@dataclass(frozen=True)
class NewRecord:
    """A record about to be written for the first time, with its events and provider areas."""

    record: ServiceRecord
    events: list[EventPayload]
    areas: tuple[str, ...]


@dataclass(frozen=True)
class DirectoryQuery:
    """A directory search. None means "any"; `statuses` defaults to the live records."""

    area: str | None = None
    locality: str | None = None
    service_type: ServiceType | None = None
    tier: int | None = None
    age: int | None = None
    text: str | None = None
    cycle: str | None = None
    statuses: tuple[ServiceStatus, ...] = (ServiceStatus.ACTIVE, ServiceStatus.TO_BE_CHECKED)
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class ServiceSummary:
    """One search hit, from the read model: the record's details (of which a hit shows
    `service_record.LISTED`) and where it stands."""

    service_id: uuid.UUID
    version: int
    cycle: str
    status: ServiceStatus
    details: ServiceDetails
    areas: tuple[str, ...]
    previous_service_id: uuid.UUID | None


@dataclass(frozen=True)
class SearchPage:
    """One page of hits. `total` counts every match when `total_is_exact`; a very broad search
    stops counting at a limit and `total` is then a lower bound ("2,000 or more")."""

    total: int
    items: list[ServiceSummary] = field(default_factory=list)
    total_is_exact: bool = True


#: An organisation's return for a cycle: `(cycle, organisation_id)`.
ReturnKey = tuple[str, str]


class Directory(Protocol):
    """Where service records live: their streams and the inline read model; and registration's
    copy of which returns are signed off (`domain/returns.py`)."""

    def joined(self, conn: Connection) -> Directory:
        """The same directory, every write joining `conn`'s open transaction."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Directory]:
        """The directory in one transaction (a savepoint of the joined one, if joined): what is
        read and written through the directory it gives commits together, or not at all if the
        block raises."""
        ...

    async def signed_off(self, returns: Collection[ReturnKey]) -> list[SignedOffReturn]:
        """Which of `returns` are signed off, as registration's copy says.

        Through `transaction()`'s directory the answer holds until that transaction ends: it
        waits for the lock every directory write takes (the store's position lock), which the
        consumer also takes to record a sign-off, so a sign-off recorded before is seen and
        one being recorded meanwhile waits for this transaction to commit."""
        ...

    async def record_signed_off(
        self, cycle: str, organisation_id: str, signed_off_at: datetime, return_version: int
    ) -> None:
        """The return was signed off (`return_version`: the event's version on the return's
        stream). Ignored if an event as late or later was applied already."""
        ...

    async def record_reopened(self, cycle: str, organisation_id: str, return_version: int) -> None:
        """The return was reopened: no longer signed off. Ignored as `record_signed_off`."""
        ...

    async def load(self, service_id: uuid.UUID) -> ServiceRecord:
        """The record as its stream makes it (version 0 when there is no such stream)."""
        ...

    async def load_many(self, service_ids: Sequence[uuid.UUID]) -> list[ServiceRecord]:
        """Several records at once, in the order asked (missing ones at version 0)."""
        ...

    async def history(self, service_id: uuid.UUID) -> list[EventEnvelope]:
        """A record's events as stored."""
        ...

    async def organisation_areas(self, codes: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Partnership areas of each *registered* organisation among `codes` (others absent)."""
        ...

    async def group_organisations(self, group_ids: Iterable[str]) -> dict[str, str]:
        """The organisation of each *defined* service group among `group_ids` (others absent)."""
        ...

    async def save(
        self,
        record: ServiceRecord,
        expected_version: int,
        events: Sequence[EventPayload],
        areas: Sequence[str],
        context: AppendContext,
    ) -> None:
        """Append `events` at `expected_version` and write `record` (already evolved by them)
        to the read model, atomically. `ConcurrencyConflict` if the stream moved."""
        ...

    async def save_new(
        self, items: Sequence[NewRecord], context: AppendContext, *, skip_existing: bool
    ) -> int:
        """Write many new records in one transaction: all or nothing. A record whose stream
        already exists is skipped when `skip_existing`, else the whole write is refused
        (`ConcurrencyConflict`). Returns how many were written."""
        ...

    async def search(self, query: DirectoryQuery, scope: Scope) -> SearchPage:
        """Matching records within the caller's scope, one page and the total: by relevance
        for a text search (unless too broad to rank), else by name."""
        ...

    async def active_ids(self, cycle: str) -> list[uuid.UUID]:
        """Every active record of a cycle."""
        ...

    async def existing_services(
        self, providers: Iterable[str], cycles: Iterable[str], service_ids: Iterable[uuid.UUID]
    ) -> list[ServiceSummary]:
        """Every record (withdrawn ones too) of one of `providers` in one of `cycles`, and
        every record whose id is among `service_ids`: what an import's lines may repeat."""
        ...

    async def carried_from(self, cycle: str) -> set[uuid.UUID]:
        """The previous records already carried into `cycle`."""
        ...

    async def keep_upload(self, actor: str, media_type: str, body: bytes) -> uuid.UUID:
        """Keep a checked import file (a day) so its confirmation can name it; its id."""
        ...

    async def kept_upload(self, upload_id: uuid.UUID, actor: str) -> tuple[str, bytes] | None:
        """The media type and body of a file `actor` kept, or None (none, another's, gone)."""
        ...


# --- accounts, leads, groups and signing in ---------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A row of the accounts table."""

    account_id: str
    email: str
    name: str
    organisation_id: str | None
    group_id: str | None
    roles: tuple[Role, ...]
    status: str
    password_hash: str | None


@dataclass(frozen=True)
class CurrentLead:
    """An organisation's mapping lead now, and the version of its leadership stream."""

    account_id: str
    stream_version: int


@dataclass(frozen=True)
class ServiceGroup:
    group_id: str
    organisation_id: str
    name: str
    kind: str
    owner_account_id: str | None


@dataclass(frozen=True)
class SetUpLink:
    """An emailed link that sets a password (a set-up or a reset link) and its account."""

    account_id: str
    expires_at: datetime
    used_at: datetime | None
    email: str
    status: str
    organisation_id: str | None
    #: `set-up` or `reset`.
    purpose: str = "set-up"
    superseded_at: datetime | None = None
    name: str = ""
    roles: tuple[Role, ...] = ()


@dataclass(frozen=True)
class Session:
    """A signed-in session (as refreshing sees it) and its account's status."""

    session_id: str
    account_id: str
    expires_at: datetime
    revoked_at: datetime | None
    account_status: str
    #: The SHA-256 of the session's current refresh token.
    refresh_hash: str = ""


@dataclass(frozen=True)
class SpentRefresh:
    """A refresh token already exchanged: its session, and when (None before times were kept)."""

    session_id: str
    spent_at: datetime | None


class AccountEvents(Protocol):
    """The event streams of accounts, leaderships and groups."""

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A connection in a transaction: every method given it joins that transaction."""
        ...

    def savepoint(self, conn: Connection) -> AbstractAsyncContextManager[None]:
        """A savepoint in `conn`'s transaction: what is done inside is undone if it raises,
        and the transaction goes on."""
        ...

    async def append(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventPayload],
        context: AppendContext,
    ) -> None: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def read_stream(self, stream_id: str) -> list[EventEnvelope]: ...


class AccountRepository(AccountEvents, Protocol):
    """Accounts, set-up links, mapping leads and service groups (the sign-in state)."""

    async def insert_account(
        self,
        conn: Connection,
        *,
        account_id: str,
        email: str,
        name: str,
        organisation_id: str | None,
        group_id: str | None,
        roles: Sequence[Role],
    ) -> None:
        """A new pending account; `Conflict` if the email address has one already."""
        ...

    async def insert_setup_link(
        self,
        conn: Connection,
        setup_id: str,
        account_id: str,
        expires_at: datetime,
        purpose: str = "set-up",
    ) -> None:
        """A new emailed link (`set-up` or `reset`) for the account."""
        ...

    async def account(self, conn: Connection, account_id: str) -> Account | None: ...

    async def disable_account(self, conn: Connection, account_id: str, now: datetime) -> None:
        """The account may not sign in any more, and its sessions end."""
        ...

    async def current_lead(self, conn: Connection, organisation_id: str) -> CurrentLead | None:
        """The organisation's lead, locked until the transaction ends."""
        ...

    async def set_lead(
        self, conn: Connection, organisation_id: str, account_id: str, stream_version: int
    ) -> None: ...

    async def insert_group(
        self, conn: Connection, group_id: str, organisation_id: str, name: str, kind: str
    ) -> None: ...

    async def set_group_owner(self, conn: Connection, group_id: str, account_id: str) -> None: ...

    async def groups_of(self, organisation_id: str) -> list[ServiceGroup]:
        """The organisation's groups by name."""
        ...

    async def group(self, group_id: str) -> ServiceGroup | None: ...


class Credentials(AccountEvents, Protocol):
    """What signing in keeps: passwords, set-up links, sessions, counters, trusted devices."""

    async def insert_setup_link(
        self,
        conn: Connection,
        setup_id: str,
        account_id: str,
        expires_at: datetime,
        purpose: str = "set-up",
    ) -> None: ...

    async def supersede_links(
        self, conn: Connection, account_id: str, purpose: str, now: datetime
    ) -> None:
        """Every unused link of this purpose for the account stops working."""
        ...

    async def group_name(self, conn: Connection, group_id: str) -> str | None: ...

    async def count_link_request(
        self, conn: Connection, scope: str, key: str, now: datetime, window: timedelta
    ) -> tuple[int, datetime]:
        """Count one request for an emailed link under `key` (scope `address` or `client`):
        the requests in the current window, this one included, and when the window ends."""
        ...

    async def purge_link_requests(self, conn: Connection, now: datetime) -> None:
        """Drop a few counts whose window has ended."""
        ...

    async def forget_failures(self, conn: Connection, address_key: str) -> None:
        """Forget an address's failed sign-ins from every client (its password was reset)."""
        ...

    async def account(self, conn: Connection, account_id: str) -> Account | None: ...

    async def account_by_email(self, conn: Connection, email: str) -> Account | None: ...

    async def setup_link_for_update(self, conn: Connection, setup_id: str) -> SetUpLink | None:
        """The link and its account, the link locked until the transaction ends."""
        ...

    async def use_setup_link(self, conn: Connection, setup_id: str, now: datetime) -> None: ...

    async def set_password(
        self, conn: Connection, account_id: str, password_hash: str, *, activate: bool
    ) -> None:
        """Store a new password hash (and make the account active, with `activate`)."""
        ...

    async def hold_counters(
        self, conn: Connection, address_key: str, client_key: str, now: datetime
    ) -> tuple[ClientFailures, AddressFailures]:
        """The pair's and the address's failure counts, locked until the transaction ends."""
        ...

    async def save_counters(
        self,
        conn: Connection,
        address_key: str,
        client_key: str,
        client: ClientFailures,
        address: AddressFailures,
    ) -> None: ...

    async def forgive_attempt(self, conn: Connection, address_key: str, client_key: str) -> None:
        """A right password: the pair starts again and the address takes the attempt back."""
        ...

    async def purge_stale_counters(
        self, conn: Connection, now: datetime, forget_before: datetime
    ) -> None: ...

    async def is_trusted_device(
        self, conn: Connection, device_hash: str, address_key: str, now: datetime
    ) -> bool: ...

    async def trust_device(
        self,
        conn: Connection,
        device_hash: str,
        address_key: str,
        account_id: str,
        now: datetime,
        until: datetime,
    ) -> None: ...

    async def open_session(
        self,
        conn: Connection,
        session_id: str,
        account_id: str,
        refresh_hash: str,
        expires_at: datetime,
    ) -> None: ...

    async def session_for_update(self, conn: Connection, refresh_hash: str) -> Session | None:
        """The session whose current refresh token has this digest, locked."""
        ...

    async def spent_session(self, conn: Connection, refresh_hash: str) -> SpentRefresh | None:
        """The session a used-up refresh token belonged to, and when it was used up."""
        ...

    async def session_by_id_for_update(self, conn: Connection, session_id: str) -> Session | None:
        """A session by id with its current refresh token's digest, locked."""
        ...

    async def rotate_refresh(
        self, conn: Connection, session_id: str, spent_hash: str, new_hash: str, now: datetime
    ) -> None:
        """Record `spent_hash` as used up now and give the session `new_hash`."""
        ...

    async def revoke_sessions_of(self, conn: Connection, account_id: str, now: datetime) -> None:
        """End every session of an account."""
        ...

    async def revoke_session(self, conn: Connection | None, session_id: str, now: datetime) -> None:
        """End a session (if not ended already); on its own connection when `conn` is None."""
        ...

    async def session_state(self, session_id: str) -> Session | None:
        """A session by id, with its account's status."""
        ...
