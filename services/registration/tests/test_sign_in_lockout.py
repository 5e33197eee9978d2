"""Sign-in gives nothing away and locks out only the guesser, on the real app and PostgreSQL.

An address with an account and one without get the same statuses, bodies, headers and
slow-down; failures lock the (address, client) pair, not the account, so a stranger failing
from elsewhere does not stop the person; a ceiling per address stops guessing spread over many
clients but lets in a device that has signed in before. Time is a FixedClock; the slow-down is
configured small but with its production shape."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from csm_kernel.client_address import CLIENT_HEADER, ClientProof
from csm_kernel.clock import FixedClock
from csm_kernel.links import LinkTokens, ensure_link_key
from registration.application.hashing_slots import HashingSlots
from registration.application.sign_in import SignIn
from registration.domain.credentials import ADDRESS_LOCKED, CLIENT_LOCKED, SignInPolicy

PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"
#: Production thresholds (10 failures lock a pair for 15 minutes), tiny delays.
QUICK = SignInPolicy(first_delay_seconds=0.001, max_delay_seconds=0.004)


def cheap_hasher() -> PasswordHasher:
    """argon2id at a few milliseconds, for the tests that are not about its cost (the
    timing test uses the production parameters)."""
    return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


@dataclass
class Lockout:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    admin: dict[str, str]
    link_key: Path
    proof: ClientProof

    @property
    def sign_in(self) -> SignIn:
        sign_in: SignIn = self.app.state.sign_in
        return sign_in

    @property
    def clock(self) -> FixedClock:
        clock = self.sign_in.clock
        assert isinstance(clock, FixedClock)
        return clock

    def configure(self, **changes: Any) -> None:
        """Sign-in as now but for `changes`; made anew, so its decoy hash is made by the
        hasher it will be compared with."""
        self.app.state.sign_in = dataclasses.replace(self.sign_in, **changes)


@pytest.fixture(scope="module")
async def lockout(
    registration_app: Any,
    infra: Any,
    auth_keys: Any,
    registration_link_key: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Lockout]:
    portal_key = ensure_link_key(tmp_path_factory.mktemp("portal") / "portal.key")
    async with registration_app("lockout", portal_key_file=portal_key) as running:
        yield Lockout(
            running.app,
            running.client,
            running.dsn,
            auth_keys.headers("national-admin"),
            registration_link_key,
            ClientProof.from_file(portal_key),
        )


@pytest.fixture(autouse=True)
def fresh_clock_and_policy(lockout: Lockout) -> Iterator[None]:
    started = lockout.sign_in
    lockout.configure(clock=FixedClock(datetime.now(UTC)), policy=QUICK, hasher=cheap_hasher())
    yield
    lockout.app.state.sign_in = started


def email() -> str:
    return f"{secrets.token_hex(5)}@trust.nhs.uk"


def code() -> str:
    return "L" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(4))


async def organisation(s: Lockout) -> str:
    c = code()
    r = await s.client.post(
        "/organisations",
        json={"code": c, "name": f"{c} PCT", "kind": "pct", "region": "london"},
        headers=s.admin,
    )
    assert r.status_code == 201, r.text
    return c


async def setup_token(s: Lockout, to: str) -> str:
    """The token of `to`'s set-up link, as the notification service writes it into the email."""
    conn = await asyncpg.connect(s.dsn)
    try:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE type = 'registration.AccountCreated' "
            "AND data->>'email' = $1 ORDER BY position DESC LIMIT 1",
            to,
        )
    finally:
        await conn.close()
    assert data is not None, f"no account created for {to}"
    return LinkTokens.from_file(s.link_key).set_up_token(json.loads(data)["setup_id"])


def client_ip() -> str:
    return f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


async def person(s: Lockout, *, set_up: bool = True) -> str:
    """A mapping lead's address, with the password set (or not yet)."""
    org, lead = await organisation(s), email()
    r = await s.client.put(
        f"/organisations/{org}/lead", json={"email": lead, "name": "Lead"}, headers=s.admin
    )
    assert r.status_code == 201, r.text
    if set_up:
        token = await setup_token(s, lead)
        r = await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
        assert r.status_code == 204, r.text
    return lead


async def attempt(
    s: Lockout, address: str, password: str, client: str, device: str | None = None
) -> httpx.Response:
    """A sign-in through the portal for a person at `client`."""
    body = {"email": address, "password": password}
    if device is not None:
        body["device_token"] = device
    return await s.client.post("/auth/sign-in", json=body, headers=s.proof.headers(client))


#: Headers that may differ between any two answers (none do today; listed so a tracing or
#: date header added later does not break the comparison of everything else).
VARYING = {"date", "traceparent", "x-request-id", "x-correlation-id"}


def seen(r: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    """All a caller sees of an answer but its timing."""
    return r.status_code, r.content, {k: v for k, v in r.headers.items() if k not in VARYING}


async def test_known_and_unknown_addresses_get_identical_answers_over_15_failures(
    lockout: Lockout,
) -> None:
    s = lockout
    known, unknown, client = await person(s), email(), client_ip()
    seen_known = [seen(await attempt(s, known, WRONG, client)) for _ in range(15)]
    seen_unknown = [seen(await attempt(s, unknown, WRONG, client)) for _ in range(15)]
    assert seen_known == seen_unknown
    assert [status for status, _, _ in seen_known] == [401] * 10 + [429] * 5
    locked = seen_known[10]
    assert locked[2]["retry-after"] == str(15 * 60)
    assert CLIENT_LOCKED.encode() in locked[1]


async def test_accounts_not_set_up_or_disabled_answer_like_unknown_ones(lockout: Lockout) -> None:
    s = lockout
    pending = await person(s, set_up=False)
    org, old = await organisation(s), email()
    for lead in (old, email()):  # the second nomination disables the first lead
        r = await s.client.put(
            f"/organisations/{org}/lead", json={"email": lead, "name": "L"}, headers=s.admin
        )
        assert r.status_code == 201
        if lead == old:
            token = await setup_token(s, old)
            assert (
                await s.client.post("/auth/set-up", json={"token": token, "password": PASSWORD})
            ).status_code == 204
    client = client_ip()
    answers = [
        seen(await attempt(s, address, PASSWORD, client)) for address in (pending, old, email())
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 401


class CountingHasher(PasswordHasher):
    """argon2 as configured, noting each hash verified against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


async def test_every_answer_costs_exactly_one_argon2_verification(lockout: Lockout) -> None:
    s = lockout
    hasher = CountingHasher()
    s.configure(
        policy=SignInPolicy(
            lock_after=2, ceiling=4, first_delay_seconds=0.001, max_delay_seconds=0.002
        ),
        hasher=hasher,
    )
    known, pending = await person(s), await person(s, set_up=False)
    decoy = s.sign_in._decoy
    a, b = client_ip(), client_ip()

    async def one(address: str, password: str, client: str, status: int) -> str:
        before = len(hasher.verified)
        r = await attempt(s, address, password, client)
        assert r.status_code == status, r.text
        assert len(hasher.verified) == before + 1, "not exactly one argon2 verification"
        return hasher.verified[-1]

    assert await one(email(), WRONG, a, 401) == decoy  # no account
    assert await one(pending, PASSWORD, a, 401) == decoy  # not set up yet
    assert await one(known, WRONG, a, 401) != decoy  # its own hash
    assert await one(known, WRONG, a, 401) != decoy  # locks (known, a)
    assert await one(known, PASSWORD, a, 429) == decoy  # locked: checks nothing
    assert await one(known, WRONG, b, 401) != decoy
    assert await one(known, WRONG, b, 401) != decoy  # 4 failures: the ceiling
    assert await one(known, PASSWORD, client_ip(), 429) == decoy  # past the ceiling
    s.clock.advance(timedelta(hours=1))
    assert await one(known, PASSWORD, a, 200) != decoy


async def timed_failures(s: Lockout, addresses: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds each failed attempt took, per address, taking turns so that all of them see
    the same load."""
    client = client_ip()
    timings: dict[str, list[float]] = {a: [] for a in addresses}
    for _ in range(rounds):
        for address in addresses:
            started = time.perf_counter()
            r = await attempt(s, address, WRONG, client)
            timings[address].append(time.perf_counter() - started)
            assert r.status_code == 401, r.text
    return timings


async def test_the_slow_down_is_the_same_for_known_and_unknown_addresses(
    lockout: Lockout,
) -> None:
    """The slow-down scaled down (0.1 s doubling to 0.2 s from the 2nd failure, a lock at the
    7th), with argon2 made cheap so that the delays dominate. Every answer of both takes at
    least its delay (an address with no account used to take none), and their medians agree
    within 0.1 s."""
    s = lockout
    policy = SignInPolicy(
        slow_after=2, lock_after=7, first_delay_seconds=0.1, max_delay_seconds=0.2
    )
    s.configure(policy=policy)
    known, unknown = await person(s), email()
    timings = await timed_failures(s, [known, unknown], policy.lock_after - 1)
    print({a: [round(t, 3) for t in d] for a, d in timings.items()})
    for address, durations in timings.items():
        for failures, took in enumerate(durations, start=1):
            assert took >= policy.delay_seconds(failures), (address, failures, durations)
    assert abs(statistics.median(timings[known]) - statistics.median(timings[unknown])) < 0.1


async def test_argon2_costs_the_same_for_known_and_unknown_addresses(
    lockout: Lockout,
) -> None:
    """Production argon2, no slow-down: answers for an address with a password and one with
    no account take the same time. On the loaded 2-core machine an answer takes 0.15-0.6 s
    (load, not the address, decides which; medians of six have differed by a factor of 1.8),
    so the medians must agree within a factor of 3; one that skipped argon2 would take
    milliseconds, a factor of 10 or more. Addresses not set up or disabled take the decoy's
    path as the unknown one does (test_every_answer_costs_exactly_one_argon2_verification)."""
    s = lockout
    s.configure(
        policy=SignInPolicy(slow_after=100, lock_after=100, ceiling=1000),
        hasher=PasswordHasher(),
    )
    known, unknown = await person(s), email()
    timings = await timed_failures(s, [known, unknown], 6)
    print({a: [round(t, 3) for t in d] for a, d in timings.items()})
    faster, slower = sorted(statistics.median(timings[a]) for a in (known, unknown))
    assert slower < faster * 3, timings


async def test_a_stranger_failing_20_times_elsewhere_does_not_lock_the_person_out(
    lockout: Lockout,
) -> None:
    s = lockout
    lead, stranger, own = await person(s), client_ip(), client_ip()
    answers = [(await attempt(s, lead, WRONG, stranger)).status_code for _ in range(20)]
    assert answers == [401] * 10 + [429] * 10
    r = await attempt(s, lead, PASSWORD, own)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]


async def test_the_right_password_is_refused_while_the_pair_is_locked(lockout: Lockout) -> None:
    s = lockout
    lead, client = await person(s), client_ip()
    for _ in range(10):
        assert (await attempt(s, lead, WRONG, client)).status_code == 401
    refused = await attempt(s, lead, PASSWORD, client)
    wrong = await attempt(s, lead, WRONG, client)
    # No oracle: during the lock the right password is answered as a wrong one is.
    assert seen(refused) == seen(wrong)
    assert refused.status_code == 429
    s.clock.advance(timedelta(minutes=15))
    assert (await attempt(s, lead, PASSWORD, client)).status_code == 200


async def test_the_ceiling_stops_new_clients_but_not_a_trusted_device(lockout: Lockout) -> None:
    s = lockout
    s.configure(
        policy=SignInPolicy(
            lock_after=3, ceiling=6, first_delay_seconds=0.001, max_delay_seconds=0.002
        )
    )
    lead, unknown, home = await person(s), email(), client_ip()
    first = await attempt(s, lead, PASSWORD, home)
    assert first.status_code == 200
    device = first.json()["device_token"]
    # Guessing spread over two clients reaches the ceiling of both addresses.
    for address in (lead, unknown):
        for guesser in (client_ip(), client_ip()):
            for _ in range(3):
                assert (await attempt(s, address, WRONG, guesser)).status_code == 401
    somewhere_new = client_ip()
    refused = await attempt(s, lead, PASSWORD, somewhere_new)
    assert seen(refused) == seen(await attempt(s, unknown, PASSWORD, somewhere_new))
    assert refused.status_code == 429 and ADDRESS_LOCKED.encode() in refused.content
    assert refused.headers["retry-after"] == "3600"
    # The device that signed in before gets in, from wherever it is now, and keeps its token.
    trusted = await attempt(s, lead, PASSWORD, client_ip(), device=device)
    assert trusted.status_code == 200, trusted.text
    assert trusted.json()["device_token"] == device
    # Its token is good for that address only.
    assert (await attempt(s, unknown, PASSWORD, client_ip(), device=device)).status_code == 429
    s.clock.advance(timedelta(hours=1))
    assert (await attempt(s, lead, PASSWORD, somewhere_new)).status_code == 200


async def test_a_trusted_device_is_not_locked_by_a_stranger_on_its_network(
    lockout: Lockout,
) -> None:
    """An NHS trust's staff share one address to the internet: a colleague failing there
    locks that address's pair, not a device the person has signed in from."""
    s = lockout
    lead, office = await person(s), client_ip()
    device = (await attempt(s, lead, PASSWORD, office)).json()["device_token"]
    for _ in range(10):
        assert (await attempt(s, lead, WRONG, office)).status_code == 401
    assert (await attempt(s, lead, PASSWORD, office)).status_code == 429
    assert (await attempt(s, lead, PASSWORD, office, device=device)).status_code == 200
    # A device token that was never given out is no device at all.
    assert (await attempt(s, lead, PASSWORD, office, device="made-up")).status_code == 429


async def test_a_client_address_without_the_portals_proof_is_ignored(lockout: Lockout) -> None:
    """A caller cannot choose the client it is counted as: unproved, every attempt below is
    the connection's own (the test client's), which therefore ends up locked."""
    s = lockout
    lead = await person(s)
    forged = ClientProof(secrets.token_bytes(32))
    for n in range(10):
        headers = {CLIENT_HEADER: client_ip()} if n % 2 else forged.headers(client_ip())
        r = await s.client.post(
            "/auth/sign-in", json={"email": lead, "password": WRONG}, headers=headers
        )
        assert r.status_code == 401
    plain = await s.client.post("/auth/sign-in", json={"email": lead, "password": PASSWORD})
    assert plain.status_code == 429
    assert (await attempt(s, lead, PASSWORD, client_ip())).status_code == 200


async def test_stale_counters_are_dropped_as_new_attempts_come(lockout: Lockout) -> None:
    s = lockout
    for _ in range(15):
        await attempt(s, email(), WRONG, client_ip())
    conn = await asyncpg.connect(s.dsn)
    try:
        before = await conn.fetchval("SELECT count(*) FROM sign_in_client_failures")
        assert before >= 15
        s.clock.advance(timedelta(hours=25))
        # Each attempt drops up to 20 stale rows of each table, more than it adds.
        for _ in range(before // 20 + 2):
            await attempt(s, email(), WRONG, client_ip())
        cutoff = s.clock.now() - timedelta(hours=1)
        stale = await conn.fetchval(
            "SELECT count(*) FROM sign_in_client_failures WHERE last_attempt_at < $1", cutoff
        )
        stale_windows = await conn.fetchval(
            "SELECT count(*) FROM sign_in_address_failures WHERE window_ends_at < $1", cutoff
        )
    finally:
        await conn.close()
    assert stale == 0 and stale_windows == 0


class SlowHasher(PasswordHasher):
    """argon2 at test cost, each verification held 50 ms (as production's ~40 ms of wall time)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8 * 1024, parallelism=1)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        time.sleep(0.05)
        return super().verify(hash, password)


@pytest.mark.parametrize("slots", [1, 3])
async def test_a_burst_of_sign_ins_verifies_no_more_passwords_at_once_than_its_slots(
    lockout: Lockout, slots: int
) -> None:
    # Each verification takes 64 MiB in production: eight at once would pass the pod's memory.
    s = lockout
    lead = await person(s)
    bounded = HashingSlots(slots)
    s.configure(hasher=SlowHasher(), slots=bounded)
    answers = await asyncio.gather(
        *(attempt(s, lead, PASSWORD if i % 2 else WRONG, client_ip()) for i in range(8))
    )
    assert sorted(r.status_code for r in answers) == [200] * 4 + [401] * 4
    assert bounded.most_at_once == slots
