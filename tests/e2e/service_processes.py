"""A CSM service as its own OS process, for end-to-end tests: started from its console script
with the environment it would get in production, ready when `/health/ready` answers."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process, not waiting for it to answer."""
        exe = Path(sys.executable).parent / f"csm-{self.name}"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(exe)], env=self.env, stdout=out, stderr=out)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until `/health/ready` answers 200; fails if the process dies or `timeout` passes."""
        assert self.proc is not None, f"{self.name} was not launched"
        deadline = time.monotonic() + timeout
        answer = "no answer"
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.name} died: {self.log.read_text()[-3000:]}"
            try:
                ready = httpx.get(f"{self.url}/health/ready", timeout=1)
                if ready.status_code == 200:
                    return
                answer = ready.text
            except httpx.HTTPError as exc:
                answer = repr(exc)
            time.sleep(0.2)
        raise AssertionError(
            f"{self.name} did not become ready ({answer}): {self.log.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return lines


@contextlib.contextmanager
def running_services(services: dict[str, ServiceProcess]) -> Iterator[dict[str, ServiceProcess]]:
    """Start every service, each ready before the next; stop them all afterwards."""
    try:
        for s in services.values():
            s.start()
        yield services
    finally:
        for s in services.values():
            s.stop()


def service_process(
    name: str, infra: Any, auth_keys: Any, directory: Path, database: str, **extra: str
) -> ServiceProcess:
    """A service on its own new database, the suite's broker, SMTP sink and signing keys, on a
    free port, with short consumer-group sessions (a killed consumer's partitions move on in
    seconds); `extra` adds or overrides `CSM_*` variables."""
    import asyncio
    import os

    from csm_infra.ports import free_port

    port = free_port()
    env = {
        **os.environ,
        "CSM_DATABASE_URL": asyncio.run(infra.create_database(database)),
        "CSM_KAFKA_BOOTSTRAP": infra.bootstrap,
        "CSM_HTTP_PORT": str(port),
        "CSM_SMTP_PORT": str(infra.smtp_port),
        "CSM_AUTH_PUBLIC_KEY_FILE": str(auth_keys.public_file),
        "CSM_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "CSM_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "CSM_SIGNING_KEY_DIR": str(directory / "signing-keys"),  # questionnaire's, not var/
        # The suite's stacks share one broker and their consumer groups' names, so a new stack
        # may be handed an earlier stack's last uncommitted events (a sign-off whose lead this
        # stack's database never saw). A lead's sign-off waits for its lead (`NotYetKnown`)
        # 120 s in production; here that would hold this stack's own emails up behind them.
        "CSM_DEPENDENCY_WAIT_SECONDS": "2",
        **extra,
    }
    return ServiceProcess(name, port, env, directory / f"{name}.log")


@contextlib.contextmanager
def portal_stack(
    infra: Any,
    auth_keys: Any,
    directory: Path,
    prefix: str,
    services: tuple[str, ...] = ("registration", "questionnaire", "notification", "reporting"),
    **portal_extra: str,
) -> Iterator[dict[str, ServiceProcess]]:
    """The portal and `services`, each its own process on its own database (`<prefix>_<name>`),
    wired to each other as in production (links in emails point at this portal); stopped
    afterwards. `portal_extra` adds `CSM_*` variables to the portal's environment."""
    from csm_kernel.links import ensure_link_key

    key = ensure_link_key(directory / "links.key")
    extra = {
        "registration": {"CSM_AUTH_PRIVATE_KEY_FILE": str(auth_keys.private_file)},
        "questionnaire": {"CSM_CYCLE_TICK_SECONDS": "0.5"},
        "portal": portal_extra,
    }
    running = {
        name: service_process(
            name,
            infra,
            auth_keys,
            directory,
            f"{prefix}_{name}",
            CSM_LINK_KEY_FILE=str(key),
            **extra.get(name, {}),
        )
        for name in (*services, "portal")
    }
    portal = running["portal"]
    for name, s in running.items():
        s.env["CSM_PORTAL_URL"] = portal.url
        portal.env[f"CSM_{name.upper()}_URL"] = s.url
    try:
        # All at once: each spends most of its start importing, and on a shared 2-core machine
        # five one after another took about two minutes. Together they take longer each.
        for s in running.values():
            s.launch()
        for s in running.values():
            s.wait_ready(timeout=180)
        yield running
    finally:
        for s in running.values():
            s.stop()
