"""The national team's own accounts (national admins, regulators, auditors): who there is,
and disabling one. Creating one is `Accounts.create_national_account`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from csm_contracts.events.accounts import NATIONAL, AccountDisabled
from csm_kernel.clock import Clock, SystemClock
from csm_kernel.errors import InvalidInput, NotFound
from csm_kernel.store import AppendContext

from .accounts import NATIONAL_ROLES, account_stream
from .ports import AccountRepository


@dataclass(frozen=True)
class NationalAccount:
    """One account of the national team, a regulator or an auditor."""

    account_id: str
    email: str
    name: str
    roles: tuple[str, ...]
    #: pending (set-up link not used yet), active or disabled.
    status: str
    created_at: datetime


class NationalAccountList(Protocol):
    async def national_accounts(self) -> list[NationalAccount]:
        """Every account with a national role, by name."""
        ...


@dataclass
class NationalAccounts:
    repo: AccountRepository
    listing: NationalAccountList
    clock: Clock = field(default_factory=SystemClock)

    async def list(self) -> list[NationalAccount]:
        return await self.listing.national_accounts()

    async def disable(
        self, account_id: str, reason: str, caller_id: str, context: AppendContext
    ) -> None:
        """Nobody signs in with it again and its sessions end (`AccountDisabled`). NotFound
        for an account that is not a national one; a national admin cannot disable their
        own account (the last one would lock the team out). Disabling a disabled account
        changes nothing."""
        if account_id == caller_id:
            raise InvalidInput.field("account_id", "you cannot disable your own account")
        async with self.repo.transaction() as conn:
            account = await self.repo.account(conn, account_id)
            if (
                account is None
                or account.organisation_id is not None
                or not set(account.roles) & NATIONAL_ROLES
            ):
                raise NotFound(f"no national account {account_id}")
            if account.status == "disabled":
                return
            version = await self.repo.stream_version(account_stream(account_id))
            event = AccountDisabled(organisation_id=NATIONAL, account_id=account_id, reason=reason)
            await self.repo.append(conn, account_stream(account_id), version, [event], context)
            await self.repo.disable_account(conn, account_id, self.clock.now())
