"""Setting a password from a set-up link, signing in and out, and refreshing access.

Secrets never leave this module except to their owner: passwords are hashed with argon2id
(argon2-cffi's defaults), refresh tokens are stored only as SHA-256 digests, set-up links'
tokens are HMACs of their id under the link key (`csm_kernel.links`, never stored), and
nothing a caller sees (status, body, headers, time taken) says whether an email address has an
account: failures are counted and locked out per address and client for every address alike
(`domain.credentials.SignInPolicy`, docs/registration.md "Signing in").
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from csm_contracts.events.accounts import NATIONAL, AccountActivated
from csm_contracts.registry import EventPayload
from csm_kernel.auth import Principal, TokenSigner
from csm_kernel.clock import Clock, SystemClock
from csm_kernel.database import Connection
from csm_kernel.errors import InvalidInput, TooManyRequests, Unauthorised
from csm_kernel.links import LinkTokens
from csm_kernel.observability import get_logger
from csm_kernel.store import AppendContext

from ..domain.credentials import Admitted, Refused, SignInPolicy, check_password, link_state
from ..domain.sign_in_keys import SignInKeys
from .accounts import account_stream
from .hashing_slots import HashingSlots
from .ports import Account, Credentials, Session, SpentRefresh

log = get_logger(__name__)

WRONG_CREDENTIALS = "the email address or password is wrong"
#: `CSM_REFRESH_GRACE_SECONDS`' default.
DEFAULT_REFRESH_GRACE = timedelta(seconds=10)
#: How many exchanges a race can have made since the token presented (two tabs each
#: refreshing once within the grace window make two).
MAX_RACE_ROTATIONS = 4


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class SignedIn:
    tokens: Tokens
    #: The device's token: the same one if it was trusted already, else a new one.
    device_token: str


@dataclass
class SignIn:
    repo: Credentials
    signer: TokenSigner
    clock: Clock = field(default_factory=SystemClock)
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    #: Shared with the way back in: argon2's memory is bounded per process, not per use case.
    slots: HashingSlots = field(default_factory=HashingSlots)
    policy: SignInPolicy = field(default_factory=SignInPolicy)
    refresh_ttl: timedelta = timedelta(hours=12)
    #: Checks set-up links' tokens (None: no link key configured, so none is accepted).
    links: LinkTokens | None = None
    #: Keyed hashes the sign-in counters are kept under, and refresh tokens' successors
    #: derived with (shared by every replica).
    keys: SignInKeys = field(default_factory=SignInKeys)
    #: A refresh token presented again this soon after its exchange is a race, not a leak.
    refresh_grace: timedelta = DEFAULT_REFRESH_GRACE

    def __post_init__(self) -> None:
        # Verified against whenever there is no usable hash (no account, not set up yet,
        # disabled, locked out), so that every answer costs one argon2 verification.
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))

    async def complete_setup(self, token: str, password: str) -> None:
        """Set the password of the account a valid, unused, unexpired set-up link names."""
        now = self.clock.now()
        setup_id = self.links.read_set_up(token) if self.links is not None else None
        async with self.repo.transaction() as conn:
            link = await self.repo.setup_link_for_update(conn, setup_id or "")
            state = link_state(link, now) if link is not None else None
            if link is None or link.purpose != "set-up" or state not in ("usable", "closed"):
                raise InvalidInput.field(
                    "token", "this set-up link is not valid any more: ask for a new one"
                )
            if state == "closed":
                raise InvalidInput.field("token", "this account has been closed")
            check_password(password, link.email)
            assert setup_id is not None
            await self.repo.use_setup_link(conn, setup_id, now)
            was_pending = link.status == "pending"
            await self.repo.set_password(
                conn, link.account_id, await self._hash(password), activate=True
            )
            if was_pending:
                await self._append(
                    conn,
                    link.account_id,
                    AccountActivated(
                        organisation_id=link.organisation_id or NATIONAL,
                        account_id=link.account_id,
                    ),
                )

    async def _append(self, conn: Connection, account_id: str, event: EventPayload) -> None:
        stream = account_stream(account_id)
        version = await self.repo.stream_version(stream)
        context = AppendContext(actor=f"user:{account_id}")
        await self.repo.append(conn, stream, version, [event], context)

    async def sign_in(
        self, email: str, password: str, *, client: str, device_token: str | None = None
    ) -> SignedIn:
        """Tokens for the right password, else 401 (or 429 while locked out).

        `client` is the caller's network address (the person's, when the portal vouches for
        it); `device_token` is the token a previous successful sign-in gave this device.
        Every step is the same whether the address has an account or not: the same queries,
        one argon2 verification (against a decoy hash when there is no usable one), the same
        counts, answers and delays, so neither the answer nor its timing tells them apart."""
        now = self.clock.now()
        address = self.keys.address(email)
        device = digest(device_token) if device_token else None
        async with self.repo.transaction() as conn:
            account = await self.repo.account_by_email(conn, email)
            trusted = device is not None and await self.repo.is_trusted_device(
                conn, device, address, now
            )
            # A trusted device is a client of its own: others on its network cannot lock it.
            client_key = (
                self.keys.device(device) if trusted and device else self.keys.client(client)
            )
            pair, address_count = await self.repo.hold_counters(conn, address, client_key, now)
            decision = self.policy.admit(pair, address_count, trusted=trusted, now=now)
            if isinstance(decision, Admitted):
                await self.repo.save_counters(
                    conn, address, client_key, decision.client, decision.address
                )
            await self.repo.purge_stale_counters(conn, now, now - self.policy.forget_after)
        if isinstance(decision, Refused):
            # Costs what any other answer costs, and checks nothing.
            await self._verify(self._decoy, password)
            raise TooManyRequests(
                decision.message, retry_after_seconds=decision.retry_after_seconds
            )
        usable: str | None = None
        if account is not None and account.status == "active":
            usable = account.password_hash
        right = await self._verify(usable or self._decoy, password)
        if usable is not None and right:
            assert account is not None
            async with self.repo.transaction() as conn:
                await self.repo.forgive_attempt(conn, address, client_key)
                if self.hasher.check_needs_rehash(usable):
                    await self.repo.set_password(
                        conn, account.account_id, await self._hash(password), activate=False
                    )
                kept = device_token if trusted else secrets.token_urlsafe(32)
                assert kept is not None
                await self.repo.trust_device(
                    conn,
                    digest(kept),
                    address,
                    account.account_id,
                    now,
                    now + self.policy.trust_device_for,
                )
                return SignedIn(await self._open_session(conn, account), kept)
        if decision.locks_client or decision.address.failures == self.policy.ceiling:
            # The same line for an address with an account and without (the log is ours, not
            # the caller's, so it may say which); never the address itself.
            log.warning(
                "sign-in lockout",
                scope="client" if decision.locks_client else "address",
                address_key=address[:16],
                account_id=account.account_id if account is not None else None,
            )
        # Failed: answer slowly, with no connection or row lock held meanwhile.
        await asyncio.sleep(decision.delay_seconds)
        raise Unauthorised(WRONG_CREDENTIALS)

    async def _verify(self, password_hash: str, password: str) -> bool:
        # argon2 releases the GIL: in a thread it costs cores, not the event loop.
        return await self.slots.run(self._verify_now, password_hash, password)

    async def _hash(self, password: str) -> str:
        return await self.slots.run(self.hasher.hash, password)

    def _verify_now(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _open_session(self, conn: Connection, account: Account) -> Tokens:
        session_id = uuid.uuid4().hex
        refresh = secrets.token_urlsafe(32)
        await self.repo.open_session(
            conn,
            session_id,
            account.account_id,
            digest(refresh),
            self.clock.now() + self.refresh_ttl,
        )
        return self._tokens(account, session_id, refresh)

    def _tokens(self, account: Account, session_id: str, refresh: str) -> Tokens:
        principal = Principal(
            user_id=account.account_id,
            session_id=session_id,
            roles=frozenset(account.roles),
            organisation_id=account.organisation_id,
            group_id=account.group_id,
        )
        access, _ = self.signer.issue(principal, now=self.clock.now().timestamp())
        return Tokens(access, refresh, self.signer.ttl_seconds)

    async def refresh(self, refresh_token: str) -> Tokens:
        """New tokens for a live session; the refresh token is used up. Presenting a used one
        again means it leaked, and ends the session, except within `refresh_grace` of its
        exchange: that is the same browser racing itself (two tabs, or a re-render and a Save
        after the access token expired), and it is given the session's current tokens."""
        now = self.clock.now()
        hashed = digest(refresh_token)
        async with self.repo.transaction() as conn:
            session = await self.repo.session_for_update(conn, hashed)
            if session is not None and self._live(session, now):
                return await self._rotate(conn, session, refresh_token, now)
            if session is None:
                spent = await self.repo.spent_session(conn, hashed)
                if spent is not None and self._in_grace(spent, now):
                    again = await self._again(conn, spent.session_id, refresh_token, now)
                    if again is not None:
                        return again
                elif spent is not None:
                    await self.repo.revoke_session(conn, spent.session_id, now)
                    log.warning("refresh token reused; session ended", session_id=spent.session_id)
        # Refused after the commit, so that ending a leaked session stands.
        raise Unauthorised("sign in again")

    @staticmethod
    def _live(session: Session, now: datetime) -> bool:
        return (
            session.revoked_at is None
            and session.expires_at > now
            and session.account_status == "active"
        )

    def _in_grace(self, spent: SpentRefresh, now: datetime) -> bool:
        # `now` can be a moment before `spent_at` (read before the other request committed):
        # with the grace off that must still be reuse, not a race inside a zero-wide window.
        return (
            self.refresh_grace > timedelta(0)
            and spent.spent_at is not None
            and now - spent.spent_at <= self.refresh_grace
        )

    async def _again(
        self, conn: Connection, session_id: str, refresh_token: str, now: datetime
    ) -> Tokens | None:
        """The session's current tokens for a token exchanged moments ago: its successor (or
        that one's, if the race went on), which only the holder of the spent token can
        derive. None if the session has ended or moved on further than a race could."""
        session = await self.repo.session_by_id_for_update(conn, session_id)
        if session is None or not self._live(session, now):
            return None
        token = refresh_token
        for _ in range(MAX_RACE_ROTATIONS):
            token = self.keys.successor(token)
            if digest(token) == session.refresh_hash:
                account = await self.repo.account(conn, session.account_id)
                assert account is not None
                return self._tokens(account, session.session_id, token)
        return None

    async def _rotate(
        self, conn: Connection, session: Session, refresh_token: str, now: datetime
    ) -> Tokens:
        new_refresh = self.keys.successor(refresh_token)
        await self.repo.rotate_refresh(
            conn, session.session_id, digest(refresh_token), digest(new_refresh), now
        )
        account = await self.repo.account(conn, session.account_id)
        assert account is not None
        return self._tokens(account, session.session_id, new_refresh)

    async def sign_out(self, principal: Principal) -> None:
        await self.repo.revoke_session(None, principal.session_id, self.clock.now())

    async def is_revoked(self, principal: Principal) -> bool:
        """Registration refuses access tokens of ended sessions at once; other services accept
        them until they expire (at most the access-token lifetime)."""
        session = await self.repo.session_state(principal.session_id)
        if session is None:
            # Only a holder of the signing key can name a session we never opened.
            return False
        return (
            session.revoked_at is not None
            or session.expires_at <= self.clock.now()
            or session.account_status != "active"
        )
