"""`csm-audit export BUNDLE`: the command line around `csm_audit.export`."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from csm_infra.settings import InfraSettings
from csm_kernel.signing import KeyRing

from .bundle import STORES
from .export import Scope, build_manifest, export_store, finish, seal
from .progress import bars


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write every service store's events into a signed bundle",
        description=(
            "Write the registration, questionnaire and notification stores' events into a "
            "bundle directory, with a manifest signed by the platform's signing key. Reads the "
            "databases of `make run` unless --database says otherwise."
        ),
    )
    p.add_argument(
        "bundle", type=Path, metavar="BUNDLE", help="the directory to write (must not exist)"
    )
    p.add_argument(
        "--cycle",
        metavar="CYCLE",
        type=_cycle,
        help="only this cycle's questionnaire streams (whole), with all of registration and "
        "notification (e.g. 2009-10)",
    )
    p.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="STORE=DSN",
        help="a store's PostgreSQL DSN (repeatable; default: the `make run` stack's)",
    )
    p.add_argument(
        "--signing-key-dir",
        type=Path,
        metavar="DIR",
        help="the key ring that signs the manifest (default: $CSM_SIGNING_KEY_DIR, else "
        "<var dir>/signing-keys)",
    )
    p.add_argument("--tar", action="store_true", help="write BUNDLE.tar instead of a directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def _cycle(text: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a cycle like 2009-10")
    return text


def _dsns(overrides: list[str]) -> dict[str, str]:
    settings = InfraSettings.from_env()
    dsns = {store: settings.database_url(store) for store in STORES}
    for item in overrides:
        store, sep, dsn = item.partition("=")
        if not sep or store not in STORES:
            raise SystemExit(f"csm-audit: --database wants STORE=DSN with STORE one of {STORES}")
        dsns[store] = dsn
    return dsns


def key_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    if env := os.environ.get("CSM_SIGNING_KEY_DIR"):
        return Path(env)
    return InfraSettings.from_env().var_dir / "signing-keys"


async def _export(bundle: Path, dsns: dict[str, str], scope: Scope, quiet: bool) -> dict[str, Any]:
    with bars(quiet) as progress:

        async def one(store: str) -> Any:
            total, advance = progress.task(store)
            return await export_store(dsns[store], store, bundle, scope, total, advance)

        entries = await asyncio.gather(*(one(store) for store in STORES))
    return dict(zip(STORES, entries, strict=True))


def run(args: argparse.Namespace) -> int:
    keys_at = key_dir(args.signing_key_dir)
    try:
        keys = KeyRing.load(keys_at)
    except (OSError, ValueError) as error:
        print(f"csm-audit: no signing key in {keys_at}: {error}", file=sys.stderr)
        return 1
    bundle: Path = args.bundle
    if bundle.exists() or (args.tar and bundle.with_name(bundle.name + ".tar").exists()):
        print(f"csm-audit: {bundle} already exists", file=sys.stderr)
        return 1
    scope, dsns = Scope(args.cycle), _dsns(args.database)
    started = time.perf_counter()
    bundle.mkdir(parents=True)
    try:
        stores = asyncio.run(_export(bundle, dsns, scope, args.quiet))
    except (OSError, ValueError, asyncpg.PostgresError) as error:
        shutil.rmtree(bundle)  # half a bundle is no bundle
        print(f"csm-audit: export failed: {error}", file=sys.stderr)
        return 1
    seal(bundle, build_manifest(scope, stores, datetime.now(UTC)), keys)
    written = finish(bundle, args.tar)
    events = sum(e["events"] for e in stores.values())
    print(
        f"Wrote {written}: {events:,} events ({scope.name}) in "
        f"{time.perf_counter() - started:.1f}s, signed by key {keys.active_kid}"
    )
    return 0
