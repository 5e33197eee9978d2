"""`csm-registration`: serve, the operator's commands, or create a national account.

`csm-registration create-account --email E --name N --role national-admin` is how the first
national admin gets in: it queues a set-up link to E, which the running service sends (under
`make run` the mail lands in var/mail; `make mail` shows it). Nothing secret is printed. Like
the kernel's commands it finds the database as `make run` set it up (`command_settings`:
`CSM_PG_PORT`, or `CSM_DATABASE_URL` when set), and `--help` lists it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from csm_contracts.auth import Role
from csm_kernel.database import connect_pool, migrate
from csm_kernel.errors import CSMError
from csm_kernel.runtime import ServiceCommand, service_main
from csm_kernel.settings import ServiceSettings
from csm_kernel.store import AppendContext

from ..bootstrap import build_app, command_line_accounts, registration_migrations

#: The roles a national account may have (`Accounts.create_national_account`).
NATIONAL_ROLE_NAMES = ("national-admin", "regulator", "auditor")


async def _create_account(settings: ServiceSettings, email: str, name: str, role: str) -> str:
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


def _create_account_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--role", default="national-admin", choices=NATIONAL_ROLE_NAMES)


def _run_create_account(args: argparse.Namespace, settings: ServiceSettings) -> int:
    try:
        account_id = asyncio.run(_create_account(settings, args.email, args.name, args.role))
    except CSMError as exc:  # e.g. the address has an account already: say so, no traceback
        print(f"no account created: {exc.message}", file=sys.stderr)
        return 1
    print(f"account {account_id} created; a set-up link is on its way to {args.email}")
    return 0


CREATE_ACCOUNT = ServiceCommand(
    "create a national account (a set-up link is sent to its address)",
    _create_account_arguments,
    _run_create_account,
)


def main() -> None:
    service_main("registration", build_app, commands={"create-account": CREATE_ACCOUNT})
