"""Faults under load, every service its own process on the real servers: PostgreSQL stopped and
crashed, the broker restarted empty, the SMTP server down, each service killed with SIGKILL.
Afterwards nothing is lost, doubled or stuck:

- every event of every store is in reporting's journal, and every relay has published all;
- every projection equals a rebuild from scratch, row for row;
- every email was sent exactly once, and every accepted lead and delegation got theirs;
- no dead letters;

and how long each loop took to recover from each fault is printed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from csm_kernel.links import ensure_link_key
from progress_history import snapshot
from reporting.adapters.projections import PROJECTIONS
from service_processes import ServiceProcess, running_services, service_process

PUBLISHERS = ("registration", "questionnaire", "notification")
SERVICES = (*PUBLISHERS, "reporting")


@pytest.fixture(scope="module")
def stack(infra, auth_keys, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    tmp = tmp_path_factory.mktemp("e2e-faults")
    key = ensure_link_key(Path(tmp) / "links.key")

    def service(name: str, **extra: str) -> ServiceProcess:
        return service_process(
            name,
            infra,
            auth_keys,
            tmp,
            f"faults_{name}",
            CSM_LINK_KEY_FILE=str(key),
            CSM_DELIVERY_DELAY_SECONDS="3",
            CSM_WATCHDOG_INTERVAL_SECONDS="1",
            **extra,
        )

    running = {
        "registration": service(
            "registration", CSM_AUTH_PRIVATE_KEY_FILE=str(auth_keys.private_file)
        ),
        "questionnaire": service("questionnaire", CSM_CYCLE_TICK_SECONDS="0.5"),
        "notification": service("notification"),
        "reporting": service("reporting"),
    }
    try:
        with running_services(running):
            yield running
    finally:
        infra.ensure_smtp_running()
        infra.ensure_broker_running()


@dataclass
class Load:
    """Organisations with their leads, and delegations, made while the faults happen. Only
    what a service accepted (201) is expected downstream; an answer lost to a fault is not
    retried (it may have been accepted), and is left out of the expectations."""

    stack: dict[str, ServiceProcess]
    auth_keys: Any
    leads: dict[str, str] = field(default_factory=dict)  # organisation -> lead's email
    delegates: list[str] = field(default_factory=list)
    refused: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    await self.one_organisation(client)
                except httpx.HTTPError:
                    self.refused += 1
                await asyncio.sleep(0.2)

    async def one_organisation(self, client: httpx.AsyncClient) -> None:
        admin = self.auth_keys.headers("national-admin")
        org = "F" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
        registration = self.stack["registration"].url
        r = await client.post(
            f"{registration}/organisations",
            headers=admin,
            json={"code": org, "name": f"{org} PCT", "kind": "pct", "region": "london"},
        )
        if r.status_code != 201:
            self.refused += 1
            return
        email = f"lead-{org.lower()}-{secrets.token_hex(2)}@pct.nhs.uk"
        r = await client.put(
            f"{registration}/organisations/{org}/lead",
            headers=admin,
            json={"email": email, "name": f"Lead of {org}"},
        )
        if r.status_code != 201:
            self.refused += 1
            return
        self.leads[org] = email
        # The questionnaire service issues the new organisation its questionnaires once its
        # consumer has seen it: delegate the first, when it is there.
        lead = self.auth_keys.headers("mapping-lead", org=org)
        questionnaire = self.stack["questionnaire"].url
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.stop.is_set():
            r = await client.get(
                f"{questionnaire}/questionnaires", params={"cycle": CYCLE}, headers=lead
            )
            if r.status_code == 200 and r.json():
                delegate = f"manager-{org.lower()}-{secrets.token_hex(2)}@pct.nhs.uk"
                r = await client.post(
                    f"{questionnaire}/questionnaires/{r.json()[0]['id']}/delegations",
                    headers=lead,
                    json={"email": delegate, "message": "Please fill this in"},
                )
                if r.status_code == 201:
                    self.delegates.append(delegate)
                else:
                    self.refused += 1
                return
            await asyncio.sleep(0.3)


CYCLE = "2009-10"


async def _open_cycle(stack: dict[str, ServiceProcess], admin: dict[str, str]) -> None:
    now = datetime.now(UTC)
    timetable = {
        "sandbox_opens": now - timedelta(days=30),
        "data_entry_opens": now - timedelta(seconds=1),
        "summary_reports": now + timedelta(days=60),
        "data_entry_closes": now + timedelta(days=100),
        "publication": now + timedelta(days=140),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{stack['questionnaire'].url}/cycles",
            headers=admin,
            json={"cycle": CYCLE, "timetable": {k: v.isoformat() for k, v in timetable.items()}},
        )
        assert r.status_code == 201, r.text


async def _status(client: httpx.AsyncClient, s: ServiceProcess) -> dict[str, Any] | None:
    try:
        r = await client.get(f"{s.url}/status", timeout=5)
        return r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


async def _loops_settled(
    stack: dict[str, ServiceProcess], timeout: float = 120
) -> tuple[float, dict[str, float]]:
    """Seconds until no loop of any service is failing, and the outage each loop that failed
    rode out (its latest `recoveries_seconds`)."""
    started = time.monotonic()
    failing_seen: set[str] = set()
    recovered: dict[str, float] = {}
    async with httpx.AsyncClient() as client:
        while time.monotonic() - started < timeout:
            failing = []
            for name, s in stack.items():
                status = await _status(client, s)
                if status is None:
                    failing.append(name)
                    continue
                for loop, state in status["loops"].items():
                    key = f"{name} {loop}"
                    if state["failing_for_seconds"] is not None or not state["healthy"]:
                        failing.append(key)
                        failing_seen.add(key)
                    elif key in failing_seen and state["recoveries_seconds"]:
                        recovered[key] = state["recoveries_seconds"][-1]
            if not failing:
                return time.monotonic() - started, recovered
            await asyncio.sleep(0.25)
    raise AssertionError(f"loops still failing after {timeout} s: {failing}")


async def _all_ready(stack: dict[str, ServiceProcess], timeout: float = 120) -> float:
    """Seconds until every service answers /health/ready with 200."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=3) as client:
        while time.monotonic() - started < timeout:
            answers = []
            for s in stack.values():
                try:
                    answers.append((await client.get(f"{s.url}/health/ready")).status_code)
                except httpx.HTTPError:
                    answers.append(0)
            if all(a == 200 for a in answers):
                return time.monotonic() - started
            await asyncio.sleep(0.25)
    raise AssertionError(f"not every service ready after {timeout} s")


#: Faults that can open the sender's one window (an email the server accepted, not recorded
#: as sent before the process or its database went away: sent again, `docs/notification-
#: delivery.md`). A second copy is only accepted when its first came during one of them.
WINDOW_FAULTS = ("PostgreSQL stopped", "PostgreSQL crashed", "notification killed")


def _deliveries(mail_dir: Path, ids: set[str]) -> dict[str, list[float]]:
    """When the sink received each of these notifications (epoch seconds, one per copy)."""
    import email.parser

    times: dict[str, list[float]] = {}
    for path in sorted(mail_dir.glob("*.eml")):
        with path.open("rb") as f:
            nid = email.parser.BytesHeaderParser().parse(f)["X-CSM-Notification"]
        if nid in ids:
            times.setdefault(nid, []).append(int(path.name.split("-", 1)[0]) / 1e9)
    return times


async def test_nothing_lost_or_doubled_through_every_fault(stack, infra, auth_keys) -> None:
    admin = auth_keys.headers("national-admin")
    await _open_cycle(stack, admin)
    load = Load(stack, auth_keys)
    loading = asyncio.create_task(load.run())
    recovery: list[tuple[str, float, float, dict[str, float]]] = []
    windows: list[tuple[float, float]] = []

    async def fault(name: str, act: Any, undo: Any, down_for: float) -> None:
        await asyncio.sleep(4)  # load in between
        began = time.time()
        await asyncio.to_thread(act)
        await asyncio.sleep(down_for)
        back = time.monotonic()
        await asyncio.to_thread(undo)
        ready = await _all_ready(stack) + (time.monotonic() - back)
        settled, loops = await _loops_settled(stack)
        recovery.append((name, ready, settled + time.monotonic() - back - ready, loops))
        if name in WINDOW_FAULTS:
            windows.append((began - 1, time.time() + 5))

    try:
        await fault("PostgreSQL stopped", infra.stop_postgres, infra.start_postgres, 3)
        await fault(
            "PostgreSQL crashed", lambda: infra.stop_postgres("immediate"), infra.start_postgres, 3
        )
        await fault("broker restarted empty", infra.restart_broker, lambda: None, 0)
        await fault("SMTP server down", infra.stop_smtp, infra.start_smtp, 10)
        for name in SERVICES:
            s = stack[name]
            await fault(f"{name} killed", s.kill, s.start, 1)
        await asyncio.sleep(4)
    finally:
        load.stop.set()
        await loading
    assert len(load.leads) >= 10, f"too little load got through ({load.refused} refused)"

    pools = {
        n: await asyncpg.create_pool(stack[n].env["CSM_DATABASE_URL"], min_size=1, max_size=2)
        for n in SERVICES
    }
    try:
        converged, resent = await _converge(pools, load, infra, windows)
        await _projections_equal_a_rebuild(stack, pools["reporting"], admin)
        async with httpx.AsyncClient() as client:
            statuses = {n: await _status(client, stack[n]) for n in SERVICES}
    finally:
        for pool in pools.values():
            await pool.close()

    print("\nafter each fault, seconds from the part coming back until every service is ready,")
    print("until no loop is failing any more, and what each loop that failed took to recover:")
    for name, ready, settled, loops in recovery:
        print(f"  {name:24} ready {ready:6.2f}  loops {settled:6.2f}")
        for loop, seconds in sorted(loops.items()):
            print(f"      {loop:44} {seconds:6.2f}")
    print(f"everything downstream consistent {converged:.1f} s after the load stopped")
    for name, status in statuses.items():
        assert status is not None, f"{name} has no /status"
        assert status["healthy"], status["problems"]
    print(
        f"load: {len(load.leads)} organisations with leads, {len(load.delegates)} "
        f"delegations, {load.refused} requests refused or lost during faults; "
        f"{resent} emails sent twice in the sender's documented window"
    )


async def _converge(
    pools: dict[str, asyncpg.Pool], load: Load, infra: Any, windows: list[tuple[float, float]]
) -> tuple[float, int]:
    """Wait until everything downstream is consistent: seconds it took, and how many emails
    went out twice within a fault's window. Fails with what is still wrong at the deadline."""
    started = time.monotonic()
    problems: list[str] = ["not checked yet"]
    resent = 0
    while time.monotonic() - started < 180:
        problems, resent = await _inconsistencies(pools, load, infra, windows)
        if not problems:
            return time.monotonic() - started, resent
        await asyncio.sleep(1)
    raise AssertionError("still inconsistent after 180 s: " + "; ".join(problems))


async def _inconsistencies(
    pools: dict[str, asyncpg.Pool], load: Load, infra: Any, windows: list[tuple[float, float]]
) -> tuple[list[str], int]:
    problems = []
    journal = {
        r["event_id"] for r in await pools["reporting"].fetch("SELECT event_id FROM journal")
    }
    for name in PUBLISHERS:
        pool = pools[name]
        stored = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM events")}
        if missing := stored - journal:
            problems.append(f"{len(missing)} {name} events not in reporting's journal")
        head = await pool.fetchval("SELECT coalesce(max(position), 0) FROM events")
        published = await pool.fetchval("SELECT coalesce(max(position), 0) FROM relay_checkpoints")
        if published < head:
            problems.append(f"{name}: {head - published} events unpublished")
    for name, pool in pools.items():
        dead = await pool.fetch("SELECT consumer, reason, error FROM dead_letters")
        assert not dead, f"{name} dead-lettered: {[dict(d) for d in dead]}"
    # Every email recorded was delivered, once; a second copy only from a fault's window.
    ids = {r["id"] for r in await pools["notification"].fetch("SELECT id FROM notifications")}
    delivered = _deliveries(infra.mail_dir, ids)
    twice = {n: t for n, t in delivered.items() if len(t) > 1}
    unexplained = {
        n: t
        for n, t in twice.items()
        if len(t) > 2 or not any(lo <= t[0] <= hi for lo, hi in windows)
    }
    assert not unexplained, f"emails delivered more than once: {unexplained}"
    if unsent := ids - delivered.keys():
        problems.append(f"{len(unsent)} emails not delivered yet")
    # Every accepted lead and delegation got its email.
    mail = infra.mailbox()
    setups = {m["to"] for m in mail if "Set up your" in m["subject"]}
    invitations = {m["to"] for m in mail if "Please complete" in m["subject"]}
    if lacking := set(load.leads.values()) - setups:
        problems.append(f"{len(lacking)} leads without a set-up email")
    if lacking := set(load.delegates) - invitations:
        problems.append(f"{len(lacking)} delegates without an invitation")
    return problems, len(twice)


async def _projections_equal_a_rebuild(
    stack: dict[str, ServiceProcess], pool: asyncpg.Pool, admin: dict[str, str]
) -> None:
    # The live projections, caught up with the journal...
    async with httpx.AsyncClient(timeout=10) as client:
        deadline = time.monotonic() + 120
        while True:
            status = await _status(client, stack["reporting"])
            if status and all(p["events_behind"] == 0 for p in status["projections"]):
                break
            assert time.monotonic() < deadline, "projections never caught up"
            await asyncio.sleep(0.5)
        live = {p.name: await snapshot(pool, p.schema, p.tables) for p in PROJECTIONS}
        assert any(any(tables.values()) for tables in live.values()), "projections are empty"
        # ...against each rebuilt from scratch beside them and swapped in.
        r = await client.post(f"{stack['reporting'].url}/projections/all/rebuild", headers=admin)
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 180
        while True:
            await asyncio.sleep(0.5)
            status = await _status(client, stack["reporting"])
            if status and not any(p["rebuilding"] for p in status["projections"]):
                break
            assert time.monotonic() < deadline, "rebuild never finished"
    rebuilt = {p.name: await snapshot(pool, p.schema, p.tables) for p in PROJECTIONS}
    for name in live:
        differences = {
            table: {
                "live only": [r for r in rows if r not in rebuilt[name][table]],
                "rebuild only": [r for r in rebuilt[name][table] if r not in rows],
            }
            for table, rows in live[name].items()
            if rows != rebuilt[name][table]
        }
        assert not differences, f"projection {name} differs from its rebuild: {differences}"
