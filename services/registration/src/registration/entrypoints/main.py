"""`csm-registration`: serve, republish, verify, or create a national account.

`csm-registration create-account --email E --name N --role national-admin` is how the first
national admin gets in: it queues a set-up link to E, which the running service sends (under
`make run` the mail lands in var/mail; `make mail` shows it). Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from csm_contracts.auth import Role
from csm_kernel.database import connect_pool, migrate
from csm_kernel.runtime import service_main
from csm_kernel.settings import ServiceSettings
from csm_kernel.store import AppendContext

from ..bootstrap import build_app, command_line_accounts, registration_migrations


async def _create_account(email: str, name: str, role: str) -> str:
    settings = ServiceSettings()
    pool = await connect_pool(settings.database_url, size=2)
    try:
        await migrate(pool, "registration", registration_migrations())
        accounts = command_line_accounts(pool, settings)
        new = await accounts.create_national_account(
            email, name, Role(role), AppendContext(actor=f"cli:{getpass.getuser()}")
        )
        return new.account_id
    finally:
        await pool.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "create-account":
        parser = argparse.ArgumentParser(prog="csm-registration create-account")
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--role", default="national-admin", choices=["national-admin", "regulator", "auditor"]
        )
        args = parser.parse_args(sys.argv[2:])
        account_id = asyncio.run(_create_account(args.email, args.name, args.role))
        print(f"account {account_id} created; a set-up link is on its way to {args.email}")
        return
    service_main("registration", build_app)
