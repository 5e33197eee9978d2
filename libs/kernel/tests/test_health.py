"""Loop monitors and the supervisor: a loop never dies in silence, and health checks say so."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from csm_kernel.health import CRASH_LIMIT, LoopMonitor, LoopRegistry, supervise
from csm_kernel.http import add_health


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_that_keeps_failing_is_alive_and_says_since_when() -> None:
    clock = Clock()
    monitor = LoopMonitor("relay", stall_after=60, clock=clock)
    monitor.running = True
    monitor.failed(ConnectionRefusedError("broker away"))
    clock.now += 30
    monitor.failed(ConnectionRefusedError("broker away"))
    assert monitor.problem() is None  # failing, but alive and retrying
    assert monitor.status()["failing_for_seconds"] == 30
    clock.now += 5
    monitor.beat()
    assert monitor.recoveries == [35.0]
    assert monitor.status()["failing_for_seconds"] is None


def test_a_loop_with_no_pass_past_its_stall_limit_is_unhealthy() -> None:
    clock = Clock()
    monitor = LoopMonitor("projector", stall_after=60, clock=clock)
    monitor.running = True
    clock.now += 59
    assert monitor.problem() is None
    clock.now += 2
    assert "no progress for 61 s" in (monitor.problem() or "")
    monitor.beat()
    assert monitor.problem() is None


def test_a_loop_that_crashes_again_and_again_is_unhealthy_even_while_running() -> None:
    clock = Clock()
    monitor = LoopMonitor("sender", clock=clock)
    for _ in range(CRASH_LIMIT):
        monitor.crashed(RuntimeError("bug"))
        assert "not running" in (monitor.problem() or "")
        monitor.running = True  # restarted
        clock.now += 1
    assert "crashed 3 times" in (monitor.problem() or "")
    clock.now += 301
    monitor.beat()
    assert monitor.problem() is None


async def test_the_supervisor_restarts_a_loop_that_raises_or_returns() -> None:
    monitor = LoopMonitor("flaky")
    stop = asyncio.Event()
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("lost its connection in a way nobody foresaw")
        if runs == 2:
            return  # ended early without an error: restarted too
        monitor.beat()
        await stop.wait()

    task = asyncio.create_task(supervise(monitor, flaky, stop, max_delay=0.1))
    for _ in range(100):
        if runs == 3:
            break
        await asyncio.sleep(0.05)
    assert runs == 3
    assert monitor.running and len(monitor.crashes) == 2
    assert "returned before it was asked to stop" in (monitor.last_error or "")
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not monitor.running


async def test_health_endpoints_report_a_dead_loop() -> None:
    registry = LoopRegistry()
    relay = registry.monitor("relay")
    relay.running = True
    app = FastAPI()

    async def ready() -> list[str]:
        return registry.problems()

    add_health(app, ready, live=registry.problems)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health/ready")).status_code == 200
        assert (await client.get("/health/live")).status_code == 200
        relay.crashed(RuntimeError("gone"))
        answer = await client.get("/health/ready")
        assert answer.status_code == 503
        assert answer.json()["problems"] == ["relay: not running (RuntimeError: gone)"]
        assert (await client.get("/health/live")).status_code == 503
