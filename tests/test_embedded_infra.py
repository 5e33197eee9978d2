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
