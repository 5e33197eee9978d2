"""`/status`: what a service's loops, relay and consumers are doing, for an ops engineer."""

from __future__ import annotations

import functools
from importlib import metadata
from typing import TYPE_CHECKING, Any

from .dead_letters import pending_count

if TYPE_CHECKING:
    from .runtime import Runtime


async def kernel_status(runtime: Runtime) -> dict[str, Any]:
    """The service's name, version and start, whether its database and the broker answer,
    every loop's health, the relay's checkpoint and what it has not published yet, each
    consumer's lag, detected losses and pending dead letters. Parts that need the database
    say so instead when it is away."""
    status: dict[str, Any] = {
        "service": runtime.name,
        "version": service_version(runtime.name),
        "started_at": runtime.started_at.isoformat() if runtime.started_at else None,
        "broker_reachable": broker_reachable(runtime),
        "healthy": not runtime.loops.problems(),
        "problems": runtime.loops.problems(),
        "loops": runtime.loops.status(),
    }
    pool = runtime.pool
    if pool is None:
        return status
    try:
        status["database_reachable"] = bool(await pool.fetchval("SELECT true"))
        if runtime.relay is not None:
            relay = runtime.relay
            checkpoint = await relay.checkpoint()
            head = await pool.fetchval("SELECT coalesce(max(position), 0) FROM events")
            status["relay"] = {
                "leading": relay.leading,
                "checkpoint": checkpoint,
                "store_head": head,
                "unpublished": head - checkpoint,
                "history_losses": relay.history_losses,
            }
            if runtime.republish_requests is not None:
                status["relay"]["republish_requests_answered"] = runtime.republish_requests.answered
        if runtime.subscriptions:
            dead = await pending_count(pool)
            consumers = {}
            for subscription in runtime.subscriptions:
                consumer = subscription.consumer
                consumers[consumer.name] = {
                    "lag": subscription.lag,
                    "partitions_reread": subscription.rewinds,
                    "losses_detected": consumer.delivery.gaps_detected,
                    "positions_missing": [
                        {
                            "topic": g.topic,
                            "after": g.after,
                            "up_to": g.up_to,
                            "open_for_seconds": round(g.open_for, 3),
                        }
                        for g in await consumer.delivery.gaps()
                    ],
                    "dead_letters_pending": dead.get(consumer.name, 0),
                }
            status["consumers"] = consumers
    except Exception as exc:  # the database is away: say so, keep the rest
        status.setdefault("database_reachable", False)
        status["database_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return status


@functools.cache
def service_version(service: str) -> str:
    """The installed version of the service's package (`csm-<service>`), else the kernel's."""
    for distribution in (f"csm-{service}", "csm-kernel"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def broker_reachable(runtime: Runtime) -> bool | None:
    """Does the broker answer this process (None when it uses none)? The relay's producer is
    connected and its last pass worked; or a consumer holds partitions of its group."""
    relay = runtime.relay
    if relay is not None:
        return relay.connected and relay.monitor.failing_since is None
    if runtime.subscriptions:
        consumers = [s.kafka_consumer() for s in runtime.subscriptions]
        return any(c is not None and bool(c.assignment()) for c in consumers)
    return None
