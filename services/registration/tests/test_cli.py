"""`csm-registration create-account`: how the first national admin gets in. It is one of the
service's commands (`--help` lists it) and finds the database as `make run` set it up."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from csm_kernel.links import LinkTokens
from csm_kernel.settings import ServiceSettings
from registration.bootstrap import build_app

CSM_REGISTRATION = str(Path(sys.executable).parent / "csm-registration")


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

    # The same address again: refused in one line, not a traceback, and nothing written.
    again = subprocess.run(
        [CSM_REGISTRATION, "create-account", "--email", "admin@dfe.example", "--name", "Again"],
        env={**os.environ, "CSM_DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1
    assert again.stderr.startswith("no account created: ") and "already" in again.stderr
    assert "Traceback" not in again.stderr
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM accounts") == 1
    finally:
        await conn.close()


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


def test_help_lists_create_account_with_the_kernels_commands() -> None:
    run = subprocess.run([CSM_REGISTRATION, "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    for command in ("serve", "republish", "verify", "dead-letters", "create-account"):
        assert command in run.stdout, command


def _stack_environment(infra: Any) -> dict[str, str]:
    """This process's environment with none of a service's `CSM_` settings: only what `make run`
    reads (`CSM_PG_PORT`, `CSM_VAR_DIR`), as in a second terminal next to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSM_")}
    if infra.pg_password:  # a container's PostgreSQL: asyncpg reads the password from here
        env["PGPASSWORD"] = infra.pg_password
    return {**env, "CSM_PG_PORT": str(infra.pg_port), "CSM_VAR_DIR": str(infra.var_dir)}


async def test_create_account_finds_registrations_database_as_make_run_set_it_up(
    infra: Any, auth_keys: Any, registration_link_key: Path
) -> None:
    address = f"ada-{secrets.token_hex(4)}@dfe.example"
    run = await asyncio.to_thread(
        subprocess.run,
        [CSM_REGISTRATION, "create-account", "--email", address, "--name", "Ada Admin"],
        env=_stack_environment(infra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert f"a set-up link is on its way to {address}" in run.stdout
    # `make run` gives registration the database named after it: the account is there, and
    # its holder sets a password from the link and signs in to the service running on it.
    dsn = infra.dsn("registration")
    conn = await asyncpg.connect(dsn)
    try:
        created = await conn.fetchval(
            "SELECT data FROM events WHERE type = 'registration.AccountCreated' "
            "AND data->>'email' = $1",
            address,
        )
    finally:
        await conn.close()
    assert created is not None, "no account created in the registration database"
    token = LinkTokens.from_file(registration_link_key).set_up_token(
        json.loads(created)["setup_id"]
    )
    app = build_app(
        ServiceSettings(
            database_url=dsn,
            kafka_bootstrap=infra.bootstrap,
            smtp_port=infra.smtp_port,
            auth_public_key_file=auth_keys.public_file,
            auth_private_key_file=auth_keys.private_file,
            link_key_file=registration_link_key,
        )
    )
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
        ) as client:
            password = "correct horse battery staple"
            r = await client.post("/auth/set-up", json={"token": token, "password": password})
            assert r.status_code == 204, r.text
            r = await client.post("/auth/sign-in", json={"email": address, "password": password})
            assert r.status_code == 200, r.text
            bearer = {"authorization": f"Bearer {r.json()['access_token']}"}
            me = (await client.get("/auth/me", headers=bearer)).json()
            assert me["roles"] == ["national-admin"]
            assert me["account_id"] in run.stdout
    finally:
        async with asyncio.timeout(30):
            await lifespan.__aexit__(None, None, None)
