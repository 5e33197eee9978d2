"""A way back in: a forgotten password's reset link, a new set-up link (asked for by the
person or the national team), and what an emailed link is before anyone types a password.

The links follow the set-up links' rules: an event names the link by a random id (not a
secret); the notification service writes the email, the token being the id and an HMAC of it
under the link key (`csm_kernel.links`, held by registration and notification only); only the
id is stored here, with its expiry; a link works once; a newer link supersedes the older ones.

The person's requests (`request_link`) never say whether an address has an account: the
answer is the same (its status, body and headers, and at least `answer_floor` of time, which
covers the work done only for an account), and they are counted per address and per client,
for every address alike (docs/registration.md, "A way back in").
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher

from csm_contracts.auth import Role
from csm_contracts.events.accounts import (
    NATIONAL,
    PASSWORD_RESET_LINK,
    PasswordReset,
    PasswordResetRequested,
    SetUpLinkReissued,
)
from csm_contracts.registry import EventPayload
from csm_kernel.clock import Clock, SystemClock
from csm_kernel.database import Connection
from csm_kernel.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from csm_kernel.links import LinkTokens
from csm_kernel.observability import get_logger
from csm_kernel.store import AppendContext

from ..domain.credentials import LinkState, check_password, link_state
from ..domain.sign_in_keys import SignInKeys
from .accounts import SETUP_LINK_LIFETIME, account_stream
from .hashing_slots import HashingSlots
from .ports import Account, Credentials, SetUpLink

log = get_logger(__name__)

Purpose = Literal["set-up", "reset"]
#: Who a person whose link does not work should ask: the national team (national accounts
#: and mapping leads, whom the national team nominates) or their mapping lead (group owners).
Ask = Literal["national-team", "mapping-lead"]

SENT = (
    "If that email address has an account, we have sent it a link. Check your inbox (and your "
    "spam folder); the link works once."
)
TOO_MANY = "too many requests for links: wait a while and try again"


@dataclass(frozen=True)
class LinkRequestPolicy:
    """How many links may be asked for, per email address and per client, in a window."""

    per_address: int = 3
    per_client: int = 20
    window: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class LinkStatus:
    """What an emailed link is now, for the page that opens it."""

    purpose: Purpose
    state: LinkState | Literal["not-valid"]
    expires_at: datetime | None
    ask: Ask


def ask_about(roles: tuple[Role, ...]) -> Ask:
    if Role.GROUP_OWNER in roles and Role.MAPPING_LEAD not in roles:
        return "mapping-lead"
    return "national-team"


@dataclass
class WayBackIn:
    repo: Credentials
    links: LinkTokens | None
    keys: SignInKeys
    clock: Clock = field(default_factory=SystemClock)
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    slots: HashingSlots = field(default_factory=HashingSlots)
    policy: LinkRequestPolicy = field(default_factory=LinkRequestPolicy)
    reset_lifetime: timedelta = timedelta(hours=1)
    #: Every person's request is answered no sooner than this after it arrived.
    answer_floor: timedelta = timedelta(milliseconds=400)

    # --- the person asks ---------------------------------------------------------------------

    async def request_link(self, email: str, *, client: str) -> str:
        """A way back in for whoever holds `email`: a reset link for an account set up
        already, a new set-up link for one that is not, nothing for a closed account or an
        address with no account. The same answer in every case; 429 past the limits."""
        started = time.monotonic()
        now = self.clock.now()
        async with self.repo.transaction() as conn:
            retry_after = await self._count(conn, email, client, now)
            if retry_after is None:
                account = await self.repo.account_by_email(conn, email)
                if account is not None and account.status == "active":
                    await self._reset_link(conn, account, now)
                elif account is not None and account.status == "pending":
                    await self._set_up_link(conn, account, now, AppendContext(actor="self"))
            await self.repo.purge_link_requests(conn, now)
        left = self.answer_floor.total_seconds() - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)
        if retry_after is not None:
            raise TooManyRequests(TOO_MANY, retry_after_seconds=retry_after)
        return SENT

    async def _count(self, conn: Connection, email: str, client: str, now: datetime) -> int | None:
        """Count the request per address and per client; seconds to wait if past a limit."""
        waits = []
        for scope, key, limit in (
            ("address", self.keys.address(email), self.policy.per_address),
            ("client", self.keys.link_client(client), self.policy.per_client),
        ):
            count, ends = await self.repo.count_link_request(
                conn, scope, key, now, self.policy.window
            )
            if count > limit:
                waits.append(max(1, int((ends - now).total_seconds()) + 1))
        return max(waits) if waits else None

    # --- the national team asks --------------------------------------------------------------

    async def reissue_set_up_link(self, account_id: str, context: AppendContext) -> datetime:
        """A new set-up link for an account not set up yet; when it stops working."""
        now = self.clock.now()
        async with self.repo.transaction() as conn:
            account = await self.repo.account(conn, account_id)
            if account is None:
                raise NotFound(f"no account {account_id}")
            if account.status != "pending":
                raise Conflict(
                    "this account has been set up already"
                    if account.status == "active"
                    else "this account has been closed"
                )
            return await self._set_up_link(conn, account, now, context)

    # --- links ------------------------------------------------------------------------------

    async def _append(
        self, conn: Connection, account_id: str, event: EventPayload, context: AppendContext
    ) -> None:
        stream = account_stream(account_id)
        version = await self.repo.stream_version(stream)
        await self.repo.append(conn, stream, version, [event], context)

    async def _set_up_link(
        self, conn: Connection, account: Account, now: datetime, context: AppendContext
    ) -> datetime:
        setup_id = uuid.uuid4().hex
        expires = now + SETUP_LINK_LIFETIME
        await self.repo.supersede_links(conn, account.account_id, "set-up", now)
        await self.repo.insert_setup_link(conn, setup_id, account.account_id, expires)
        group_name = (
            await self.repo.group_name(conn, account.group_id) if account.group_id else None
        )
        event = SetUpLinkReissued(
            organisation_id=account.organisation_id or NATIONAL,
            account_id=account.account_id,
            email=account.email,
            name=account.name,
            roles=list(account.roles),
            group_id=account.group_id,
            group_name=group_name,
            setup_id=setup_id,
            setup_expires_at=expires,
            requested_by=context.actor,
        )
        await self._append(conn, account.account_id, event, context)
        return expires

    async def _reset_link(self, conn: Connection, account: Account, now: datetime) -> None:
        reset_id = uuid.uuid4().hex
        expires = now + self.reset_lifetime
        await self.repo.supersede_links(conn, account.account_id, "reset", now)
        await self.repo.insert_setup_link(conn, reset_id, account.account_id, expires, "reset")
        event = PasswordResetRequested(
            organisation_id=account.organisation_id or NATIONAL,
            account_id=account.account_id,
            email=account.email,
            name=account.name,
            reset_id=reset_id,
            reset_expires_at=expires,
        )
        await self._append(conn, account.account_id, event, AppendContext(actor="self"))

    def _link_id(self, purpose: Purpose, token: str) -> str | None:
        if self.links is None:
            return None
        if purpose == "set-up":
            return self.links.read_set_up(token)
        ids = self.links.read(PASSWORD_RESET_LINK, token, 1)
        return ids[0] if ids else None

    async def _link(
        self, conn: Connection, purpose: Purpose, token: str
    ) -> tuple[str, SetUpLink] | None:
        link_id = self._link_id(purpose, token)
        if link_id is None:
            return None
        link = await self.repo.setup_link_for_update(conn, link_id)
        if link is None or link.purpose != purpose:
            return None
        return link_id, link

    async def status(self, purpose: Purpose, token: str) -> LinkStatus:
        """What a link is now, said before its holder types a password."""
        async with self.repo.transaction() as conn:
            found = await self._link(conn, purpose, token)
        if found is None:
            return LinkStatus(purpose, "not-valid", None, "national-team")
        link = found[1]
        return LinkStatus(
            purpose, link_state(link, self.clock.now()), link.expires_at, ask_about(link.roles)
        )

    async def reset_password(self, token: str, password: str) -> None:
        """Choose a new password with a usable reset link; every session of the account ends."""
        now = self.clock.now()
        async with self.repo.transaction() as conn:
            found = await self._link(conn, "reset", token)
            state = link_state(found[1], now) if found is not None else None
            if found is None or state not in ("usable", "closed"):
                raise InvalidInput.field(
                    "token",
                    "this link to reset your password is not valid any more: ask for a new one",
                )
            link_id, link = found
            if state == "closed" or link.status != "active":
                raise InvalidInput.field("token", "this account has been closed")
            check_password(password, link.email)
            await self.repo.use_setup_link(conn, link_id, now)
            await self.repo.set_password(
                conn,
                link.account_id,
                await self.slots.run(self.hasher.hash, password),
                activate=False,
            )
            await self.repo.revoke_sessions_of(conn, link.account_id, now)
            # Whoever holds the inbox chose this password: earlier failures (theirs, or a
            # guesser's) no longer lock them out of signing in with it.
            await self.repo.forget_failures(conn, self.keys.address(link.email))
            await self._append(
                conn,
                link.account_id,
                PasswordReset(
                    organisation_id=link.organisation_id or NATIONAL,
                    account_id=link.account_id,
                    email=link.email,
                    name=link.name,
                ),
                AppendContext(actor=f"user:{link.account_id}"),
            )
        log.info("password reset; sessions ended", account_id=link.account_id)
