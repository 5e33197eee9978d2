"""The embedded servers themselves: clear errors for taken ports, a mail sink that keeps mail."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import pytest

from csm_infra.ports import PortInUse, ensure_free, free_port


def test_a_taken_port_names_the_setting_to_change() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUse) as info:
            ensure_free(port, "CSM_PG_PORT")
    assert str(port) in str(info.value)
    assert "CSM_PG_PORT" in str(info.value)


def test_make_run_refuses_a_taken_service_port_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = {
            **os.environ,
            "CSM_VAR_DIR": str(tmp_path),
            "CSM_REGISTRATION_PORT": str(port),
            "CSM_PG_PORT": str(free_port()),
        }
        run = subprocess.run(
            [str(Path(sys.executable).parent / "csm-run")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 2
    assert f"port {port}" in run.stderr
    assert "CSM_REGISTRATION_PORT" in run.stderr
    assert not (tmp_path / "postgres").exists()


def test_the_smtp_sink_keeps_what_it_receives(infra) -> None:
    msg = EmailMessage()
    msg["From"] = "csm@example.org"
    msg["To"] = "lead@anytown.nhs.uk"
    msg["Subject"] = "Your CSM set-up"
    msg.set_content("Welcome to Children's Services Mapping.")
    with smtplib.SMTP("127.0.0.1", infra.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)
    kept = [m for m in infra.mailbox() if m["subject"] == "Your CSM set-up"]
    assert len(kept) == 1
    assert kept[0]["to"] == "lead@anytown.nhs.uk"
    assert "Welcome to Children's Services Mapping." in kept[0]["body"]


async def test_postgres_has_one_database_per_service(infra) -> None:
    conn = await asyncpg.connect(infra.dsn("postgres"))
    try:
        names = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()
    assert {"registration", "questionnaire", "reporting", "notification", "portal"} <= names


class _Process:
    """A stand-in for a service process: exits when told to."""

    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


def test_make_run_restarts_a_dead_service_with_a_growing_pause(monkeypatch, tmp_path) -> None:
    from csm_infra import supervisor
    from csm_infra.settings import InfraSettings

    started: list[_Process] = []

    def start(settings: object, name: str) -> _Process:
        started.append(_Process())
        return started[-1]

    monkeypatch.setattr(supervisor, "start_service", start)
    monkeypatch.setattr(supervisor.Supervised, "live", lambda self: True)
    settings = InfraSettings.on_free_ports(tmp_path)
    services = {"registration": supervisor.Supervised("registration", 1)}
    services["registration"].proc = _Process()
    pauses = []
    now = 100.0
    for _ in range(3):
        services["registration"].proc.returncode = -9  # SIGKILL
        supervisor.look_after(settings, services, now)
        restart_at = services["registration"].restart_at
        assert restart_at is not None and services["registration"].proc is None
        pauses.append(restart_at - now)
        supervisor.look_after(settings, services, restart_at - 0.01)  # not yet
        assert services["registration"].proc is None
        now = restart_at
        supervisor.look_after(settings, services, now)  # started again
        assert services["registration"].proc is started[-1]
        now += 1
    assert pauses == [1.0, 2.0, 4.0]
    # Up for a minute: healthy again, so the next death waits the shortest pause.
    now += supervisor.STABLE_SECONDS
    services["registration"].proc.returncode = 1
    supervisor.look_after(settings, services, now)
    assert services["registration"].restart_at == now + 1.0


def test_make_run_restarts_a_service_that_is_not_live(monkeypatch, tmp_path) -> None:
    from csm_infra import supervisor
    from csm_infra.settings import InfraSettings

    stopped = []
    monkeypatch.setattr(supervisor.Supervised, "live", lambda self: False)
    monkeypatch.setattr(supervisor, "stop_process", lambda proc: stopped.append(proc))
    settings = InfraSettings.on_free_ports(tmp_path)
    service = supervisor.Supervised("reporting", 1, proc=_Process())
    for i in range(supervisor.LIVENESS_FAILURES):
        assert not stopped
        supervisor.look_after(settings, {"reporting": service}, 100.0 + i * 10)
    assert stopped == [service.proc]
