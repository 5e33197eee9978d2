"""What every benchmark shares: a private embedded stack, and one way to report figures."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from csm_infra.settings import InfraSettings
from csm_infra.stack import EmbeddedStack


@contextlib.contextmanager
def private_stack() -> Iterator[InfraSettings]:
    """PostgreSQL and the broker on free loopback ports in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="csm-bench-") as tmp:
        settings = InfraSettings.on_free_ports(Path(tmp))
        stack = EmbeddedStack(settings)
        stack.up()
        try:
            yield settings
        finally:
            stack.down()


def host_speed() -> dict[str, float]:
    """Milliseconds a fixed piece of work takes here now (median of five): pure-Python
    arithmetic and SHA-256 over 16 MB. Machines of one kind sit on hosts that measured 2.5
    times apart on 2026-12-02, and one host drifted by a third within an hour, so a figure
    means little without the speed of the host it was measured on."""

    def python_loop() -> None:
        total = 0
        for i in range(1_000_000):
            total += i * i % 7

    block = bytes(16 * 1024 * 1024)

    def sha256() -> None:
        hashlib.sha256(block).digest()

    out = {}
    for name, work in (("python_loop_ms", python_loop), ("sha256_16mb_ms", sha256)):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
        out[name] = round(statistics.median(times), 1)
    return out


class GcPauses:
    """The garbage collector's pauses in this process while it is `with`-ed: a load generator
    that stops for a collection delays every request it has in flight, and the latency it
    measures is then its own, not the service's."""

    def __init__(self) -> None:
        self.pauses_ms: list[float] = []
        self._started = 0.0

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses_ms.append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def figures(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}_client_gc_pauses": len(self.pauses_ms),
            f"{prefix}_client_gc_max_ms": round(max(self.pauses_ms, default=0.0), 1),
        }


def report(**figures: Any) -> None:
    """Print the figures as JSON, with the date, the machine and its speed at the end of the
    run (`host_speed`)."""
    machine = f"{platform.node()} {platform.machine()} {platform.processor()}".strip()
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine,
                "host_speed": host_speed(),
                **figures,
            },
            indent=2,
        )
    )
