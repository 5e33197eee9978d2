"""`csm-run` (what `make run` calls): the embedded stack plus every service as its own process.

Stays in the foreground and looks after what it started, as an orchestrator would: a service
that exits (or is killed) is started again after a pause that grows while it keeps dying
(1 s, 2 s, 4 s … 30 s; back to 1 s once it has stayed up a minute); one whose `/health/live`
fails three times running (a hung loop inside it) is stopped and started again; an embedded
server (PostgreSQL, the broker, the SMTP sink) that stops is started again. Ctrl-C (or
SIGTERM) stops the services, then the servers, cleanly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .ports import PortInUse, ensure_free, is_listening, wait_listening
from .settings import SERVICES, InfraSettings
from .stack import EmbeddedStack

#: Restart pauses grow up to this many seconds while a service keeps dying.
MAX_BACKOFF = 30.0
#: A service up this long is healthy again: its next restart waits the shortest pause.
STABLE_SECONDS = 60.0
#: Failed liveness checks in a row (one every `LIVENESS_EVERY` seconds) before a restart.
LIVENESS_FAILURES = 3
LIVENESS_EVERY = 5.0


def start_service(
    settings: InfraSettings, service: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    exe = shutil.which(f"csm-{service}") or os.path.join(
        os.path.dirname(sys.executable), f"csm-{service}"
    )
    env = {**os.environ, **settings.service_env(service), **(extra_env or {})}
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.log_dir / f"{service}.log").open("ab")
    return subprocess.Popen([exe], env=env, stdout=log, stderr=subprocess.STDOUT)


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


@dataclass
class Supervised:
    """One service process and what its supervisor knows of it."""

    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 1.0
    restart_at: float | None = None
    liveness_failures: int = 0
    next_liveness: float = 0.0
    restarts: list[float] = field(default_factory=list)

    def live(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/health/live"
            with urllib.request.urlopen(url, timeout=3) as answer:
                return bool(answer.status == 200)
        except urllib.error.HTTPError:
            return False
        except OSError:
            # Not listening yet (starting) is not a failed check: only an answer of 503 or a
            # hang is; a process that never listens is caught by its exit, or by the next one.
            return True


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def look_after(settings: InfraSettings, services: dict[str, Supervised], now: float) -> None:
    """One pass of the supervisor: restart what died or hangs, when its pause is over."""
    for s in services.values():
        if s.proc is not None and s.proc.poll() is not None:
            code = s.proc.returncode
            s.proc = None
            if now - s.started >= STABLE_SECONDS:
                s.backoff = 1.0
            s.restart_at = now + s.backoff
            say(
                f"{s.name} exited with {code}; restarting in {s.backoff:.0f} s (logs in "
                f"{settings.log_dir})"
            )
            s.backoff = min(s.backoff * 2, MAX_BACKOFF)
        elif s.proc is not None and now >= s.next_liveness:
            s.next_liveness = now + LIVENESS_EVERY
            s.liveness_failures = 0 if s.live() else s.liveness_failures + 1
            if s.liveness_failures >= LIVENESS_FAILURES:
                say(f"{s.name} is not live (GET /health/live); restarting it")
                stop_process(s.proc)
                s.liveness_failures = 0
                continue  # its exit is handled on the next pass
        if s.proc is None and s.restart_at is not None and now >= s.restart_at:
            s.proc = start_service(settings, s.name)
            s.started, s.restart_at, s.next_liveness = now, None, now + 20
            s.restarts.append(now)


def look_after_servers(stack: EmbeddedStack) -> None:
    """Start again an embedded server that has stopped (the broker comes back empty; the
    relays republish what it lost)."""
    s = stack.settings
    if not is_listening(s.pg_port):
        say("PostgreSQL is down; starting it")
        with contextlib.suppress(Exception):
            stack.postgres.start()
    if not is_listening(s.broker_port):
        say("the broker is down; starting it (empty: the relays will publish again)")
        with contextlib.suppress(Exception):
            stack.start_broker()
    if not is_listening(s.smtp_port):
        say("the SMTP sink is down; starting it")
        with contextlib.suppress(Exception):
            stack.start_smtp()


def main() -> None:
    settings = InfraSettings.from_env()
    stack = EmbeddedStack(settings)
    services = {name: Supervised(name, settings.service_ports[name]) for name in SERVICES}
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        for service in SERVICES:
            ensure_free(settings.service_ports[service], f"CSM_{service.upper()}_PORT")
        # Spans in OTLP JSON for `csm-traces` (CSM_TRACES_FILE= with nothing turns them off).
        traces = os.environ.setdefault("CSM_TRACES_FILE", str(settings.traces_file))
        if traces:
            Path(traces).parent.mkdir(parents=True, exist_ok=True)
        print("starting PostgreSQL, the broker and the SMTP sink…", flush=True)
        stack.up()
        now = time.monotonic()
        for s in services.values():
            s.proc, s.started, s.next_liveness = start_service(settings, s.name), now, now + 20
        for service in SERVICES:
            wait_listening(settings.service_ports[service], 60, service)
        print(f"\nCSM is running (logs in {settings.log_dir}, mail in {settings.mail_dir}):")
        for service in SERVICES:
            print(f"  {service:13} http://127.0.0.1:{settings.service_ports[service]}")
        print(f"  {'postgres':13} postgresql://postgres@127.0.0.1:{settings.pg_port}")
        print(f"  {'broker':13} 127.0.0.1:{settings.broker_port}")
        print(f"  {'smtp':13} 127.0.0.1:{settings.smtp_port}")
        if traces:
            print(f"  {'traces':13} {traces}  (csm-traces slowest | failed | show TRACE_ID)")
        print("Ctrl-C stops everything.", flush=True)
        next_server_check = 0.0
        while not stopping:
            now = time.monotonic()
            if now >= next_server_check:
                look_after_servers(stack)
                next_server_check = now + LIVENESS_EVERY
            look_after(settings, services, now)
            time.sleep(0.5)
    except PortInUse as exc:
        print(f"csm-run: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        print("\nstopping…", flush=True)
        running = [s.proc for s in services.values() if s.proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.terminate()
        for proc in running:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        stack.down()
        print("stopped.")


if __name__ == "__main__":
    main()
