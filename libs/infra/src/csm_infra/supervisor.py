"""`csm-run` (what `make run` calls): the embedded stack plus every service as its own process.

Stays in the foreground; Ctrl-C (or SIGTERM) stops the services, then the servers, cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from .ports import PortInUse, ensure_free, wait_listening
from .settings import SERVICES, InfraSettings
from .stack import EmbeddedStack


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


def main() -> None:
    settings = InfraSettings.from_env()
    stack = EmbeddedStack(settings)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        for service in SERVICES:
            ensure_free(settings.service_ports[service], f"CSM_{service.upper()}_PORT")
        print("starting PostgreSQL, the broker and the SMTP sink…", flush=True)
        stack.up()
        for service in SERVICES:
            procs[service] = start_service(settings, service)
        for service in SERVICES:
            wait_listening(settings.service_ports[service], 60, service)
        print(f"\nCSM is running (logs in {settings.log_dir}, mail in {settings.mail_dir}):")
        for service in SERVICES:
            print(f"  {service:13} http://127.0.0.1:{settings.service_ports[service]}")
        print(f"  {'postgres':13} postgresql://postgres@127.0.0.1:{settings.pg_port}")
        print(f"  {'broker':13} 127.0.0.1:{settings.broker_port}")
        print(f"  {'smtp':13} 127.0.0.1:{settings.smtp_port}")
        print("Ctrl-C stops everything.", flush=True)
        while not stopping:
            for service, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{service} exited with {proc.returncode}; see {settings.log_dir}")
                    stopping = True
            time.sleep(0.5)
    except PortInUse as exc:
        print(f"csm-run: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        print("\nstopping…", flush=True)
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        stack.down()
        print("stopped.")


if __name__ == "__main__":
    main()
