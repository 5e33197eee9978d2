"""The whole embedded stack: PostgreSQL + broker + SMTP sink, started and stopped as one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from csm_kernel.auth import ensure_keypair
from csm_kernel.links import ensure_link_key

from .broker import create_topics, start_broker
from .ports import ensure_free, is_listening, wait_listening
from .postgres import EmbeddedPostgres
from .settings import SERVICES, InfraSettings


def _exited(pid: int) -> bool:
    """Has the process ended? Reaps it when it is our own child (else it lingers as a zombie
    that `kill(pid, 0)` still finds)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


@dataclass
class EmbeddedStack:
    settings: InfraSettings

    @property
    def postgres(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.settings.pg_dir, self.settings.pg_port)

    def _pidfile(self, name: str) -> os.PathLike[str]:
        return self.settings.run_dir / f"{name}.pid"

    def _spawn(self, name: str, cmd: list[str], port: int, setting: str) -> None:
        if is_listening(port) and self._alive(name):
            return
        ensure_free(port, setting)
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        log = (self.settings.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        with open(self._pidfile(name), "w") as f:
            f.write(str(proc.pid))
        wait_listening(port, 30, name)

    def _alive(self, name: str) -> bool:
        pid = self._pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def _pid(self, name: str) -> int | None:
        try:
            with open(self._pidfile(name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def up(self) -> None:
        s = self.settings
        s.var_dir.mkdir(parents=True, exist_ok=True)
        ensure_keypair(s.keys_dir)
        ensure_link_key(s.keys_dir / "links.key")
        ensure_link_key(s.keys_dir / "portal.key")
        pg = self.postgres
        pg.start()
        pg.create_databases(list(SERVICES))
        if not (is_listening(s.broker_port) and self._alive("broker")):
            self.start_broker()
        self.start_smtp()

    def start_smtp(self) -> None:
        """Start the SMTP sink (what it kept stays in the mail directory) unless it runs."""
        s = self.settings
        command = [sys.executable, "-m", "csm_infra.smtp_sink"]
        command += ["--port", str(s.smtp_port), "--dir", str(s.mail_dir)]
        self._spawn("smtp", command, s.smtp_port, "CSM_SMTP_PORT")

    def stop_process(self, name: str, timeout: float = 10) -> None:
        pid = self._pid(name)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not _exited(pid):
                time.sleep(0.05)
            if not _exited(pid):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._pidfile(name))

    def stop_broker(self) -> None:
        self.stop_process("broker")

    def start_broker(self) -> None:
        """Start the broker (empty: memory storage) on its port, with every topic created as
        production has it (`csm_contracts.topics.Topics.definitions`)."""
        proc = start_broker(self.settings.broker_port, self.settings.log_dir / "broker.log")
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self._pidfile("broker"), "w") as f:
            f.write(str(proc.pid))
        create_topics(f"127.0.0.1:{self.settings.broker_port}", fresh_broker=True)

    def restart_broker(self) -> None:
        """Stop and start the broker: with memory storage it comes back empty."""
        self.stop_broker()
        self.start_broker()

    def down(self) -> None:
        self.stop_process("smtp")
        self.stop_process("broker")
        self.postgres.stop()

    def status(self) -> dict[str, str]:
        s = self.settings
        return {
            "postgres": f"127.0.0.1:{s.pg_port} " + ("up" if is_listening(s.pg_port) else "down"),
            "broker": f"127.0.0.1:{s.broker_port} "
            + ("up" if is_listening(s.broker_port) else "down"),
            "smtp": f"127.0.0.1:{s.smtp_port} " + ("up" if is_listening(s.smtp_port) else "down"),
        }
