"""The national deployment rehearsed on one machine (`make rehearsal SCALE=small|national`).

Three replicas of every service (own processes, one database and broker, the same consumer
groups, each service behind a round-robin balancer) on the embedded servers, with every topic
at its production partition count. A cycle is driven through the public APIs while replicas
are killed with SIGKILL at random moments and started again, every service gets a rolling
restart, and PostgreSQL and the broker are each restarted once. Then the guarantees are
checked and printed as a table (see `rehearsal_checks`), with the timings.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rehearsal_checks import (
    Check,
    accepted_is_stored,
    emails_exactly_once,
    no_dead_letters,
    pools,
    projections_equal_rebuild,
    quiesce,
    sign_offs_on_the_public_topic,
    streams_verify,
    table,
)
from rehearsal_cluster import SERVICES, Cluster, Replica
from rehearsal_driver import REMINDER_AFTER, SCALES, Accepted, Api, drive, send_bulletin


@dataclass
class FaultLog:
    #: (what, seconds until ready again, seconds until its consumers had no lag)
    recoveries: list[tuple[str, float, float | None]] = field(default_factory=list)
    #: When a second copy of an email is allowed (notification killed, PostgreSQL restarted).
    windows: list[tuple[float, float]] = field(default_factory=list)


async def _caught_up(replicas: list[Replica], timeout: float = 60) -> float | None:
    """Seconds until every replica of a service reports no consumer lag (None: not within
    the timeout, or a service with no consumers)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=3) as client:
        while time.monotonic() - started < timeout:
            lags = []
            for replica in replicas:
                try:
                    status = (await client.get(f"{replica.url}/status")).json()
                except (httpx.HTTPError, ValueError):
                    lags.append(None)
                    continue
                for consumer in (status.get("consumers") or {}).values():
                    lag = consumer.get("lag")
                    lags.append(sum(lag.values()) if isinstance(lag, dict) else lag)
            if lags and all(lag == 0 for lag in lags):
                return time.monotonic() - started
            if not lags:
                return None
            await asyncio.sleep(0.5)
    return None


async def faults(
    cluster: Cluster, log: FaultLog, kills: int, pause: float, rng: random.Random
) -> None:
    """Random SIGKILLs of every service's replicas, a PostgreSQL and a broker restart, and a
    rolling restart of every service, interleaved."""
    victims = [r for r in cluster.all_replicas()]
    rng.shuffle(victims)
    plan: list[str] = [f"kill {v.name}" for v in victims[:kills]]
    plan.insert(len(plan) // 3, "postgres")
    plan.insert(len(plan) // 2, "broker")
    plan.insert(2 * len(plan) // 3, "rolling")
    by_name = {r.name: r for r in cluster.all_replicas()}
    for step in plan:
        await asyncio.sleep(pause * rng.uniform(0.5, 1.5))
        began = time.time()
        if step.startswith("kill "):
            replica = by_name[step.split(" ", 1)[1]]
            replica.kill()
            await asyncio.sleep(rng.uniform(0.2, 2))
            replica.start()
            ready = await asyncio.to_thread(replica.wait_ready)
            caught = await _caught_up(cluster.replicas[replica.service])
            log.recoveries.append((f"{replica.name} killed", ready, caught))
            if replica.service == "notification":
                log.windows.append((began - 1, time.time() + 5))
        elif step == "postgres":
            await asyncio.to_thread(cluster.restart_postgres)
            log.windows.append((began - 1, time.time() + 10))
            log.recoveries.append(("PostgreSQL restarted", time.time() - began, None))
        elif step == "broker":
            await asyncio.to_thread(cluster.restart_broker)
            caught = await _caught_up(cluster.all_replicas(), timeout=120)
            log.recoveries.append(("broker restarted empty", time.time() - began, caught))
        else:
            # Every Deployment rolls at once, each one replica at a time (as kubectl would).
            async def roll(service: str) -> None:
                took = await asyncio.to_thread(cluster.rolling_restart, service)
                caught = await _caught_up(cluster.replicas[service])
                log.recoveries.append((f"{service} rolling restart", sum(took), caught))

            await asyncio.gather(*(roll(service) for service in SERVICES))
            log.windows.append((began - 1, time.time() + 5))
        say(f"fault done: {step}")


async def guarded(name: str, check: Awaitable[Check]) -> Check:
    """The check's answer; a check that could not run is a failed one, saying why."""
    try:
        return await check
    except Exception as error:
        return Check(name, False, f"could not check: {type(error).__name__}: {error}")


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} rehearsal: {message}", file=sys.stderr, flush=True)


#: Settings every replica gets: quick to notice missing positions and truncated partitions.
REHEARSAL_ENV = {
    "CSM_DELIVERY_DELAY_SECONDS": "3",
    "CSM_WATCHDOG_INTERVAL_SECONDS": "1",
    "CSM_CYCLE_TICK_SECONDS": "1",
}


def rehearse(scale_name: str, directory: Path, replicas: int = 3) -> tuple[list[Check], str]:
    """Start the cluster (outside any event loop: the embedded servers' set-up runs its own),
    then drive, break and check it."""
    with Cluster.started(directory, replicas=replicas, extra_env=REHEARSAL_ENV) as cluster:
        return asyncio.run(_rehearse(cluster, scale_name, replicas))


async def _rehearse(cluster: Cluster, scale_name: str, replicas: int) -> tuple[list[Check], str]:
    scale = SCALES[scale_name]
    accepted = Accepted()
    urls = {s: cluster.url(s) for s in SERVICES}
    api = Api(urls, (cluster.settings.keys_dir / "auth-private.pem").read_bytes(), accepted)
    log = FaultLog()
    started = time.monotonic()
    kills, pause = (8, 6.0) if scale_name == "small" else (60, 30.0)
    try:
        await asyncio.gather(
            drive(api, scale, cluster.settings.mail_dir),
            faults(cluster, log, kills, pause, random.Random(23)),
        )
        driven = time.monotonic() - started
        # A bulletin goes to the leads the notification service knows when it is sent. Sent
        # while a kill's rebalance held registration's partitions (13 s once), it missed the
        # leads nominated meanwhile; what is checked here is that it reaches each lead once.
        await _caught_up(cluster.replicas["notification"])
        await send_bulletin(api)
        say(f"load and faults done in {driven:.0f} s; checking")
        # The reminder falls due a set time after the cycle opened.
        await asyncio.sleep(max(0.0, REMINDER_AFTER + 20 - (time.monotonic() - started)))
        admin = api.headers("national-admin")
        db = await pools(cluster)
        try:
            checks = [
                await guarded("everything published and projected", quiesce(cluster, db, 600)),
                await guarded(
                    "projections equal a rebuild", projections_equal_rebuild(cluster, db, admin)
                ),
                *await emails_exactly_once(cluster, db, accepted, log.windows),
                await guarded(
                    "every sign-off on the public topic",
                    sign_offs_on_the_public_topic(cluster, accepted),
                ),
                await guarded("every stream verifies", asyncio.to_thread(streams_verify, cluster)),
                await guarded("no dead letters", no_dead_letters(db)),
                await guarded("nothing 2xx missing", accepted_is_stored(db, accepted)),
            ]
        finally:
            for pool in db.values():
                await pool.close()
    finally:
        await api.close()
    visible = sorted(accepted.submit_to_visible)
    p50 = statistics.median(visible) if visible else float("nan")
    p99 = visible[min(len(visible) - 1, int(0.99 * len(visible)))] if visible else float("nan")
    lines = [
        f"scale {scale_name}: {scale.organisations} organisations, {replicas} replicas of every"
        f" service; driven in {driven:.0f} s; {accepted.retried} requests retried on another"
        f" replica, {accepted.unknown} with an unknown outcome;"
        f" {len(accepted.not_submittable)} questionnaires refused at submission",
        f"sign-off to visible in reporting: p50 {p50:.2f} s, p99 {p99:.2f} s over {len(visible)}",
        "recovery after each fault (ready again s, consumers caught up s):",
        *(
            f"  {what:36} {ready:7.2f}  {f'{caught:7.2f}' if caught is not None else '      -'}"
            for what, ready, caught in log.recoveries
        ),
    ]
    if accepted.not_submittable:
        lines.append(f"refused submissions (first): {list(accepted.not_submittable.items())[:2]}")
    return checks, "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csm-rehearsal-") as tmp:
        checks, figures = rehearse(args.scale, Path(tmp), args.replicas)
    print(table(checks))
    print(figures)
    sys.exit(0 if all(c.holds for c in checks) else 1)


if __name__ == "__main__":
    main()
