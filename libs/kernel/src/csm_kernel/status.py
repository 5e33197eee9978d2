"""`/status`: what a service's loops, relay and consumers are doing, for an ops engineer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dead_letters import pending_count

if TYPE_CHECKING:
    from .runtime import Runtime


async def kernel_status(runtime: Runtime) -> dict[str, Any]:
    """The service's name and start, every loop's health, the relay's checkpoint and what it
    has not published yet, each consumer's lag, detected losses and pending dead letters.
    Parts that need the database say so instead when it is away."""
    status: dict[str, Any] = {
        "service": runtime.name,
        "started_at": runtime.started_at.isoformat() if runtime.started_at else None,
        "healthy": not runtime.loops.problems(),
        "problems": runtime.loops.problems(),
        "loops": runtime.loops.status(),
    }
    pool = runtime.pool
    if pool is None:
        return status
    try:
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
        status["database_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return status
