"""`csm-registration create-account`: how the first national admin gets in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg


async def test_create_account_queues_a_set_up_link_and_prints_no_secret(infra: Any) -> None:
    dsn = await infra.create_database("cli")
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "csm-registration"),
            "create-account",
            "--email",
            "admin@dfe.example",
            "--name",
            "First Admin",
        ],
        env={**os.environ, "CSM_DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "set-up link is on its way to admin@dfe.example" in run.stdout
    assert "token" not in run.stdout.lower() and "http" not in run.stdout
    conn = await asyncpg.connect(dsn)
    try:
        account = await conn.fetchrow("SELECT * FROM accounts")
        links = await conn.fetchval("SELECT count(*) FROM setup_links WHERE used_at IS NULL")
        event = await conn.fetchrow("SELECT type, actor, data FROM events")
    finally:
        await conn.close()
    assert account["roles"] == ["national-admin"] and account["status"] == "pending"
    assert links == 1
    assert event["type"] == "registration.AccountCreated"
    # The event names the link (for the notification service's email), never its token.
    assert '"setup_id"' in event["data"] and "token" not in event["data"]
    assert event["actor"].startswith("cli:")


async def test_create_account_refuses_an_unknown_role(infra: Any) -> None:
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "csm-registration"),
            "create-account",
            "--email",
            "x@y.example",
            "--name",
            "X",
            "--role",
            "mapping-lead",
        ],
        env={**os.environ, "CSM_DATABASE_URL": await infra.create_database("cli")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "invalid choice" in run.stderr
