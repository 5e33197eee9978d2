"""Account use cases against an in-memory fake of their port (no database): nominating a
mapping lead, replacing one, and defining a service group."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import pytest

from csm_contracts.auth import Role
from csm_contracts.envelope import EventEnvelope
from csm_contracts.events import OrganisationKind, Region
from csm_contracts.events.accounts import AccountCreated, AccountDisabled, MappingLeadNominated
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection
from csm_kernel.errors import Conflict, NotFound
from csm_kernel.store import AppendContext, InMemoryEventStore, NewEvent
from registration.adapters.organisations_memory import InMemoryOrganisations
from registration.application.accounts import Accounts
from registration.application.organisations import register_organisation
from registration.application.ports import Account, AccountRepository, CurrentLead, ServiceGroup
from registration.domain.commands import RegisterOrganisation

CTX = AppendContext(actor="user:admin")


class FakeAccounts:
    """`AccountRepository` in dicts over an in-memory event store (no transactions)."""

    def __init__(self) -> None:
        self.store = InMemoryEventStore()
        self.accounts: dict[str, Account] = {}
        self.leads: dict[str, CurrentLead] = {}
        self.groups: dict[str, ServiceGroup] = {}
        self.setup_links: dict[str, str] = {}

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        yield None  # type: ignore[misc]

    @contextlib.asynccontextmanager
    async def savepoint(self, conn: Connection) -> AsyncIterator[None]:
        yield

    async def append(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventPayload],
        context: AppendContext,
    ) -> None:
        await self.store.append(
            stream_id, expected_version, [NewEvent.from_payload(e) for e in events], context
        )

    async def stream_version(self, stream_id: str) -> int:
        return await self.store.stream_version(stream_id)

    async def read_stream(self, stream_id: str) -> list[EventEnvelope]:
        return await self.store.read_stream(stream_id)

    async def insert_account(self, conn: Connection, **fields: Any) -> None:
        if any(a.email.lower() == fields["email"].lower() for a in self.accounts.values()):
            raise Conflict(f"an account for {fields['email']} already exists")
        fields["roles"] = tuple(fields["roles"])
        self.accounts[fields["account_id"]] = Account(
            status="pending", password_hash=None, **fields
        )

    async def insert_setup_link(
        self, conn: Connection, setup_id: str, account_id: str, expires_at: datetime
    ) -> None:
        self.setup_links[setup_id] = account_id

    async def account(self, conn: Connection, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    async def disable_account(self, conn: Connection, account_id: str, now: datetime) -> None:
        old = self.accounts[account_id]
        self.accounts[account_id] = Account(**{**old.__dict__, "status": "disabled"})

    async def current_lead(self, conn: Connection, organisation_id: str) -> CurrentLead | None:
        return self.leads.get(organisation_id)

    async def set_lead(
        self, conn: Connection, organisation_id: str, account_id: str, stream_version: int
    ) -> None:
        self.leads[organisation_id] = CurrentLead(account_id, stream_version)

    async def insert_group(
        self, conn: Connection, group_id: str, organisation_id: str, name: str, kind: str
    ) -> None:
        self.groups[group_id] = ServiceGroup(group_id, organisation_id, name, kind, None)

    async def set_group_owner(self, conn: Connection, group_id: str, account_id: str) -> None:
        old = self.groups[group_id]
        self.groups[group_id] = ServiceGroup(**{**old.__dict__, "owner_account_id": account_id})

    async def groups_of(self, organisation_id: str) -> list[ServiceGroup]:
        found = [g for g in self.groups.values() if g.organisation_id == organisation_id]
        return sorted(found, key=lambda g: g.name)

    async def group(self, group_id: str) -> ServiceGroup | None:
        return self.groups.get(group_id)


@pytest.fixture
async def setup() -> tuple[Accounts, FakeAccounts]:
    organisations = InMemoryOrganisations()
    await register_organisation(
        organisations,
        RegisterOrganisation("RX1", "Leeds", OrganisationKind.NHS_TRUST_COMMUNITY, Region.LONDON),
        CTX,
    )
    fake = FakeAccounts()
    repo: AccountRepository = fake
    return Accounts(repo, organisations), fake


async def test_a_nominated_lead_gets_a_pending_account_and_a_set_up_link(
    setup: tuple[Accounts, FakeAccounts],
) -> None:
    accounts, fake = setup

    new = await accounts.nominate_lead("RX1", "lead@example.org", "Lee", CTX)

    account = fake.accounts[new.account_id]
    assert (account.status, account.roles, account.organisation_id) == (
        "pending",
        (Role.MAPPING_LEAD,),
        "RX1",
    )
    assert list(fake.setup_links.values()) == [new.account_id]
    (created,) = await fake.read_stream(f"account-{new.account_id}")
    assert created.type == AccountCreated.EVENT_TYPE
    assert fake.leads["RX1"] == CurrentLead(new.account_id, 1)


async def test_a_new_lead_replaces_the_old_one_whose_account_is_disabled(
    setup: tuple[Accounts, FakeAccounts],
) -> None:
    accounts, fake = setup
    first = await accounts.nominate_lead("RX1", "first@example.org", "First", CTX)

    second = await accounts.nominate_lead("RX1", "second@example.org", "Second", CTX)

    assert fake.accounts[first.account_id].status == "disabled"
    disabled = (await fake.read_stream(f"account-{first.account_id}"))[-1]
    assert disabled.type == AccountDisabled.EVENT_TYPE
    history = await accounts.lead_history("RX1")
    assert [n.account_id for n in history] == [first.account_id, second.account_id]
    assert isinstance(history[1], MappingLeadNominated)
    assert history[1].replaces_account_id == first.account_id


async def test_nominating_the_current_lead_again_changes_nothing(
    setup: tuple[Accounts, FakeAccounts],
) -> None:
    accounts, fake = setup
    first = await accounts.nominate_lead("RX1", "lead@example.org", "Lee", CTX)

    again = await accounts.nominate_lead("RX1", "LEAD@example.org", "Lee", CTX)

    assert again == first
    assert len(fake.accounts) == 1


async def test_a_lead_of_an_unknown_organisation_is_not_found(
    setup: tuple[Accounts, FakeAccounts],
) -> None:
    accounts, _ = setup

    with pytest.raises(NotFound, match="RX9"):
        await accounts.nominate_lead("RX9", "lead@example.org", "Lee", CTX)


async def test_a_group_gets_an_owner_who_sees_only_that_group(
    setup: tuple[Accounts, FakeAccounts],
) -> None:
    accounts, fake = setup

    group_id, owner = await accounts.define_group(
        "RX1", "North", "locality", "owner@example.org", "Owner", CTX
    )

    assert (await accounts.group(group_id)).owner_account_id == owner.account_id
    assert [g.group_id for g in await accounts.list_groups("RX1")] == [group_id]
    assert fake.accounts[owner.account_id].group_id == group_id
    with pytest.raises(NotFound):
        await accounts.group("nope")
