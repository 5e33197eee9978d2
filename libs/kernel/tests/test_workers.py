"""`CSM_WORKERS` > 1: every worker serves (connections spread by the kernel, not all accepted
by the first process to wake), one that dies is replaced, a taken port is refused naming the
setting, and SIGTERM stops the parent and every worker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from csm_kernel.workers import listening_socket

HERE = Path(__file__).parent
SERVE = (
    "import sys; sys.path.insert(0, {here!r}); import workers_app; "
    "from csm_kernel.settings import ServiceSettings; "
    "from csm_kernel.workers import serve_workers; "
    "serve_workers('test', workers_app.build, ServiceSettings())"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(port: int, workers: int = 2) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CSM_HTTP_PORT": str(port), "CSM_WORKERS": str(workers)}
    return subprocess.Popen(
        [sys.executable, "-c", SERVE.format(here=str(HERE))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def _pids_answering(port: int, connections: int) -> set[int]:
    """Open `connections` keep-alive connections at once and ask each which process it has."""
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=1)
        )
        for _ in range(connections)
    ]
    try:
        answers = await asyncio.gather(*(c.get("/pid") for c in clients))
        return {r.json()["pid"] for r in answers}
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def _wait_serving(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            async with httpx.AsyncClient() as c:
                if (await c.get(f"http://127.0.0.1:{port}/pid")).status_code == 200:
                    return
        except httpx.TransportError:
            await asyncio.sleep(0.2)
    raise AssertionError("the workers did not start serving")


async def test_every_worker_serves_and_sigterm_stops_them_all() -> None:
    port = _free_port()
    proc = _start(port)
    try:
        await _wait_serving(port, proc)
        await asyncio.sleep(2)  # the second worker may still be starting
        # 40 connections hashed to two sockets: both workers get some (all 40 landing on one
        # has probability 2**-39).
        pids = await _pids_answering(port, 40)
        assert len(pids) == 2 and proc.pid not in pids
        # A worker that dies is replaced.
        dead = min(pids)
        os.kill(dead, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = await _pids_answering(port, 40)
            if len(now) == 2 and dead not in now:
                break
            await asyncio.sleep(0.5)
        assert len(now) == 2 and dead not in now
        pids = now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        for pid in pids:  # the workers went with it
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        listening_socket("127.0.0.1", port, reuse_port=False).close()  # and the port is free
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_taken_port_is_refused_naming_the_setting() -> None:
    taken = listening_socket("127.0.0.1", _free_port(), reuse_port=True)
    try:
        proc = _start(taken.getsockname()[1])
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert b"CSM_HTTP_PORT" in out
    finally:
        taken.close()
