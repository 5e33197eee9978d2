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
    PUBLISHERS,
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
from rehearsal_driver import REMINDER_AFTER, SCALES, Accepted, Api, Scale, drive, send_bulletin


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


def rehearse(
    scale_name: str,
    directory: Path,
    replicas: int = 3,
    organisations: int | None = None,
    minutes: float | None = None,
) -> tuple[list[Check], str]:
    """Start the cluster (outside any event loop: the embedded servers' set-up runs its own),
    then drive, break and check it (`organisations`: fewer than the scale's; `minutes`: no
    organisation started after that long: both for a part of a national run)."""
    scale = SCALES[scale_name]
    if organisations is not None:
        scale = Scale(organisations, scale.services_per_organisation, scale.concurrency)
    with Cluster.started(directory, replicas=replicas, extra_env=REHEARSAL_ENV) as cluster:
        return asyncio.run(_rehearse(cluster, scale_name, scale, replicas, minutes))


#: Seconds the idle cluster is watched before the load, to tell its idle CPU (consumers
#: polling, clocks ticking) from the work's.
IDLE_SECONDS = 10.0


async def _progress(api: Api, cluster: Cluster, scale: Scale, started: float) -> None:
    """A line a minute: how far the driver is, so a long run can be judged as it goes."""
    while True:
        await asyncio.sleep(60)
        accepted = api.accepted
        cpu = await asyncio.to_thread(cluster.cpu_seconds)
        say(
            f"{time.monotonic() - started:.0f} s: {accepted.finished}/{scale.organisations}"
            f" organisations done, {len(accepted.saves)} saves,"
            f" {sum(accepted.requests.values())} requests; CPU s "
            + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        )


async def _rehearse(
    cluster: Cluster, scale_name: str, scale: Scale, replicas: int, minutes: float | None
) -> tuple[list[Check], str]:
    accepted = Accepted()
    urls = {s: cluster.url(s) for s in SERVICES}
    api = Api(urls, (cluster.settings.keys_dir / "auth-private.pem").read_bytes(), accepted)
    log = FaultLog()
    idle_from = await asyncio.to_thread(cluster.cpu_seconds)
    await asyncio.sleep(IDLE_SECONDS)
    idle = {k: v - idle_from[k] for k, v in (await asyncio.to_thread(cluster.cpu_seconds)).items()}
    cpu_from = await asyncio.to_thread(cluster.cpu_seconds)
    starting_from = {s: (g[0].cpu.starting, g[0].cpu.starts) for s, g in cluster.replicas.items()}
    started = time.monotonic()
    kills, pause = (8, 6.0) if scale_name == "small" else (60, 30.0)
    progress = asyncio.create_task(_progress(api, cluster, scale, started))
    try:
        await asyncio.gather(
            drive(
                api,
                scale,
                cluster.settings.mail_dir,
                None if minutes is None else started + 60 * minutes,
            ),
            faults(cluster, log, kills, pause, random.Random(23)),
        )
        driven = time.monotonic() - started
        progress.cancel()
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
            quiet = await guarded("everything published and projected", quiesce(cluster, db, 1800))
            # The work's CPU: from the load's start until everything is projected (the
            # rebuild the checks ask for next is not the deployment's work).
            worked = time.monotonic() - started
            cpu_used = {
                k: v - cpu_from[k]
                for k, v in (await asyncio.to_thread(cluster.cpu_seconds)).items()
            }
            events = {
                name: await db[name].fetchval("SELECT count(*) FROM events") for name in PUBLISHERS
            }
            emails = await db["notification"].fetchval("SELECT count(*) FROM notifications")
            restarts = {
                s: (g[0].cpu.starting - starting_from[s][0], g[0].cpu.starts - starting_from[s][1])
                for s, g in cluster.replicas.items()
            }
            checks = [
                quiet,
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
        f"scale {scale_name}: {accepted.finished} of {scale.organisations} organisations driven"
        f" ({scale.services_per_organisation} services each), {replicas} replicas of every"
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
    lines += cpu_figures(cluster, cpu_used, restarts, idle, worked, accepted, events, emails)
    return checks, "\n".join(lines)


#: docs/capacity.md's measured costs (ms of CPU), the model checked here: a save, a load of a
#: questionnaire, and an event projected by reporting.
MODEL_MS = {"save": (1.4, 2.3), "load": (0.7, 1.2), "projected": (0.46, 0.51)}


def cpu_figures(
    cluster: Cluster,
    used: dict[str, float],
    restarts: dict[str, tuple[float, int]],
    idle: dict[str, float],
    seconds: float,
    accepted: Accepted,
    events: dict[str, int],
    emails: int,
) -> list[str]:
    """Each part's CPU over the load, less the start-ups of replicas restarted during it and
    its idle rate, per operation, beside the capacity model's figure (`restarts`: seconds of
    start-up and starts during the load, by service)."""
    requests = {
        service: sum(n for (s, _), n in accepted.requests.items() if s == service)
        for service in SERVICES
    }
    saves = accepted.requests[("questionnaire", "save")]
    loads = accepted.requests[("questionnaire", "load")]
    all_events = sum(events.values())
    lines = [
        f"CPU from the load's start until all was projected ({seconds:.0f} s): {all_events}"
        f" events stored {events}, {emails} emails, {sum(requests.values())} requests answered"
        f" {requests} ({saves} saves, {loads} loads)",
        f"  {'part':14} {'CPU s':>8} {'restarts s':>14} {'idle s':>8} {'work s':>8}"
        "  work per operation",
    ]
    work: dict[str, float] = {}
    for part, total in used.items():
        restarting, starts = restarts.get(part, (0.0, 0))
        idle_s = idle.get(part, 0.0) / IDLE_SECONDS * seconds
        work[part] = max(0.0, total - restarting - idle_s)
        per = _per_operation(part, work[part], requests, all_events, emails)
        lines.append(
            f"  {part:14} {total:8.1f} {restarting:8.1f} ({starts:>3})"
            f" {idle_s:8.1f} {work[part]:8.1f}  {per}"
        )
    others = requests["questionnaire"] - saves
    low = saves * MODEL_MS["save"][0] + others * MODEL_MS["load"][0]
    high = saves * MODEL_MS["save"][1] + others * MODEL_MS["load"][1]
    lines.append(
        f"  model, questionnaire: {saves} saves, and {others} other requests costed as loads:"
        f" {low / 1000:.1f}-{high / 1000:.1f} s; measured {work['questionnaire']:.1f} s"
    )
    lo, hi = MODEL_MS["projected"]
    lines.append(
        f"  model, reporting: {all_events} events projected: {all_events * lo / 1000:.1f}-"
        f"{all_events * hi / 1000:.1f} s; measured {work['reporting']:.1f} s"
        " (with its report reads)"
    )
    return lines


def _per_operation(
    part: str, work: float, requests: dict[str, int], events: int, emails: int
) -> str:
    def ms(count: int) -> str:
        return f"{1000 * work / max(1, count):.2f} ms"

    if part in ("questionnaire", "registration"):
        return f"{ms(requests[part])} a request"
    if part == "reporting":
        return f"{ms(events)} an event projected (with {requests['reporting']} report reads)"
    if part == "notification":
        return f"{ms(emails)} an email, or {ms(events)} an event"
    if part == "postgres":
        return f"{ms(sum(requests.values()) + events)} a request or event"
    return f"{ms(events)} an event"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument(
        "--organisations", type=int, help="fewer organisations than the scale's (a part-run)"
    )
    parser.add_argument(
        "--minutes", type=float, help="start no organisation after this long (a part-run)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csm-rehearsal-") as tmp:
        checks, figures = rehearse(
            args.scale, Path(tmp), args.replicas, args.organisations, args.minutes
        )
    print(table(checks))
    print(figures)
    sys.exit(0 if all(c.holds for c in checks) else 1)


if __name__ == "__main__":
    main()
