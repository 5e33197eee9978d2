"""Accounts, mapping leads and service groups: who may sign in, for which organisation or group.

Each use case writes its events and the sign-in state they imply in one transaction, and
names a set-up link in `AccountCreated`, which the notification service emails: nobody is
given a password, and no usable link rests anywhere but in that email.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from csm_contracts.auth import Role
from csm_contracts.events.accounts import (
    NATIONAL,
    AccountCreated,
    AccountDisabled,
    MappingLeadNominated,
    ServiceGroupDefined,
    ServiceGroupOwnerNamed,
)
from csm_kernel.clock import Clock, SystemClock
from csm_kernel.database import Connection
from csm_kernel.errors import Conflict, CSMError, InvalidInput, NotFound
from csm_kernel.event_sourcing import decode_event
from csm_kernel.store import AppendContext

from .ports import Account, AccountRepository, OrganisationRepository, ServiceGroup

NATIONAL_ROLES = frozenset({Role.NATIONAL_ADMIN, Role.REGULATOR, Role.AUDITOR})
#: How long a set-up link works.
SETUP_LINK_LIFETIME = timedelta(hours=72)


def account_stream(account_id: str) -> str:
    return f"account-{account_id}"


def leadership_stream(organisation_id: str) -> str:
    return f"mapping-lead-{organisation_id}"


def group_stream(group_id: str) -> str:
    return f"service-group-{group_id}"


@dataclass(frozen=True)
class LeadWanted:
    """One organisation's mapping lead, as bulk registration asks for it."""

    organisation_id: str
    email: str
    name: str


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    email: str
    name: str


@dataclass
class Accounts:
    repo: AccountRepository
    organisations: OrganisationRepository
    clock: Clock = field(default_factory=SystemClock)

    async def _ensure_registered(self, organisation_id: str) -> None:
        if not (await self.organisations.load(organisation_id)).registered:
            raise NotFound(f"no organisation with code {organisation_id}")

    async def _create(
        self,
        conn: Connection,
        *,
        email: str,
        name: str,
        roles: list[Role],
        organisation_id: str | None,
        group_id: str | None,
        context: AppendContext,
        group_name: str | None = None,
    ) -> NewAccount:
        account_id = uuid.uuid4().hex
        await self.repo.insert_account(
            conn,
            account_id=account_id,
            email=email,
            name=name,
            organisation_id=organisation_id,
            group_id=group_id,
            roles=roles,
        )
        setup_id = uuid.uuid4().hex
        expires = self.clock.now() + SETUP_LINK_LIFETIME
        await self.repo.insert_setup_link(conn, setup_id, account_id, expires)
        event = AccountCreated(
            organisation_id=organisation_id or NATIONAL,
            account_id=account_id,
            email=email,
            name=name,
            roles=roles,
            group_id=group_id,
            created_by=context.actor,
            setup_id=setup_id,
            setup_expires_at=expires,
            group_name=group_name,
        )
        await self.repo.append(conn, account_stream(account_id), 0, [event], context)
        return NewAccount(account_id, email, name)

    async def create_national_account(
        self, email: str, name: str, role: Role, context: AppendContext
    ) -> NewAccount:
        """An account for the national team, a regulator or an auditor."""
        if role not in NATIONAL_ROLES:
            raise InvalidInput.field(
                "role", f"national accounts are {', '.join(sorted(NATIONAL_ROLES))}"
            )
        async with self.repo.transaction() as conn:
            return await self._create(
                conn,
                email=email,
                name=name,
                roles=[role],
                organisation_id=None,
                group_id=None,
                context=context,
            )

    async def nominate_lead(
        self, organisation_id: str, email: str, name: str, context: AppendContext
    ) -> NewAccount:
        """The organisation's mapping lead becomes a new account; a previous lead loses their
        sign-in. Nominating the current lead again changes nothing."""
        await self._ensure_registered(organisation_id)
        async with self.repo.transaction() as conn:
            return await self._nominate(conn, organisation_id, email, name, context)

    async def nominate_leads(
        self, wanted: Sequence[LeadWanted], context: AppendContext
    ) -> list[NewAccount | CSMError]:
        """Many organisations' mapping leads at once (bulk registration), each as
        `nominate_lead` does, in order, in one transaction (one commit, not one round trip
        and commit per lead). Each lead is a savepoint of its own, so one refused (an
        unregistered organisation, an email another account has) is reported in its place
        and the others stand."""
        registered = await self.organisations.load_many({w.organisation_id for w in wanted})
        outcomes: list[NewAccount | CSMError] = []
        async with self.repo.transaction() as conn:
            for w in wanted:
                if w.organisation_id not in registered:
                    outcomes.append(NotFound(f"no organisation with code {w.organisation_id}"))
                    continue
                try:
                    async with self.repo.savepoint(conn):
                        outcomes.append(
                            await self._nominate(conn, w.organisation_id, w.email, w.name, context)
                        )
                except (Conflict, InvalidInput) as refused:
                    outcomes.append(refused)
        return outcomes

    async def _nominate(
        self,
        conn: Connection,
        organisation_id: str,
        email: str,
        name: str,
        context: AppendContext,
    ) -> NewAccount:
        current = await self.repo.current_lead(conn, organisation_id)
        if current is not None:
            holder = await self.repo.account(conn, current.account_id)
            if holder is not None and holder.email.lower() == email.lower():
                return NewAccount(holder.account_id, holder.email, holder.name)
        new = await self._create(
            conn,
            email=email,
            name=name,
            roles=[Role.MAPPING_LEAD],
            organisation_id=organisation_id,
            group_id=None,
            context=context,
        )
        version = current.stream_version if current else 0
        nominated = MappingLeadNominated(
            organisation_id=organisation_id,
            account_id=new.account_id,
            email=email,
            name=name,
            replaces_account_id=current.account_id if current else None,
            nominated_by=context.actor,
        )
        await self.repo.append(
            conn, leadership_stream(organisation_id), version, [nominated], context
        )
        if current is not None:
            await self._disable(
                conn, current.account_id, organisation_id, "mapping lead replaced", context
            )
        await self.repo.set_lead(conn, organisation_id, new.account_id, version + 1)
        return new

    async def _disable(
        self,
        conn: Connection,
        account_id: str,
        organisation_id: str,
        reason: str,
        context: AppendContext,
    ) -> None:
        version = await self.repo.stream_version(account_stream(account_id))
        event = AccountDisabled(
            organisation_id=organisation_id, account_id=account_id, reason=reason
        )
        await self.repo.append(conn, account_stream(account_id), version, [event], context)
        await self.repo.disable_account(conn, account_id, self.clock.now())

    async def current_lead(self, organisation_id: str) -> Account:
        """The organisation's mapping lead's account (404 if it has none)."""
        await self._ensure_registered(organisation_id)
        async with self.repo.transaction() as conn:
            current = await self.repo.current_lead(conn, organisation_id)
            account = await self.repo.account(conn, current.account_id) if current else None
        if account is None:
            raise NotFound(f"{organisation_id} has no mapping lead")
        return account

    async def lead_history(self, organisation_id: str) -> list[MappingLeadNominated]:
        events = await self.repo.read_stream(leadership_stream(organisation_id))
        decoded = (decode_event(e).payload for e in events)
        return [p for p in decoded if isinstance(p, MappingLeadNominated)]

    async def define_group(
        self,
        organisation_id: str,
        name: str,
        kind: Literal["locality", "area-of-delivery"],
        owner_email: str,
        owner_name: str,
        context: AppendContext,
    ) -> tuple[str, NewAccount]:
        """A service group of the organisation, and an account for its owner that sees only
        that group."""
        await self._ensure_registered(organisation_id)
        group_id = uuid.uuid4().hex[:12]
        async with self.repo.transaction() as conn:
            await self.repo.insert_group(conn, group_id, organisation_id, name, kind)
            owner = await self._create(
                conn,
                email=owner_email,
                name=owner_name,
                roles=[Role.GROUP_OWNER],
                organisation_id=organisation_id,
                group_id=group_id,
                context=context,
                group_name=name,
            )
            await self.repo.set_group_owner(conn, group_id, owner.account_id)
            events = [
                ServiceGroupDefined(
                    organisation_id=organisation_id,
                    group_id=group_id,
                    name=name,
                    kind=kind,
                    defined_by=context.actor,
                ),
                ServiceGroupOwnerNamed(
                    organisation_id=organisation_id,
                    group_id=group_id,
                    account_id=owner.account_id,
                    email=owner_email,
                    name=owner_name,
                    named_by=context.actor,
                ),
            ]
            await self.repo.append(conn, group_stream(group_id), 0, events, context)
        return group_id, owner

    async def list_groups(self, organisation_id: str) -> list[ServiceGroup]:
        return await self.repo.groups_of(organisation_id)

    async def group(self, group_id: str) -> ServiceGroup:
        found = await self.repo.group(group_id)
        if found is None:
            raise NotFound(f"no service group {group_id}")
        return found
