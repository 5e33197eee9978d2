"""`csm-audit verify BUNDLE`: the command line around `csm_audit.verify`; exit 0 when every
check holds, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .bundle import unpack
from .progress import bars
from .verify import Check, verify_bundle

#: Failures listed per check before the rest are only counted.
_SHOWN = 50


def register(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        help="check a bundle offline: signature, files, hash chains, stream heads, sign-offs",
        description=(
            "Check an audit bundle without a database or network: the manifest's signature, "
            "each file's SHA-256, size and event counts, every stream's hash chain, every "
            "stream's head, and the stream heads each sign-off carries. Exit status 0 when "
            "everything holds, 1 otherwise."
        ),
    )
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="a bundle directory or .tar")
    p.add_argument(
        "--jwks",
        type=Path,
        metavar="FILE",
        help="public keys obtained from the platform (questionnaire's /.well-known/jwks.json) "
        "to check the signature against, as well as the bundle's own",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="stores read at once, each by its own process (default: the number of CPUs)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def report(checks: list[Check], console: Console) -> None:
    table = Table(title="Audit bundle checks", title_justify="left")
    table.add_column("Check")
    table.add_column("Result")
    table.add_column("Details", overflow="fold")
    for check in checks:
        result = "[green]OK[/]" if check.ok else f"[red]FAILED[/] ({len(check.failures)})"
        table.add_row(check.name, result, check.detail)
    console.print(table)
    for check in checks:
        for reason in check.failures[:_SHOWN]:
            console.print(
                f"FAILED {check.name}: {reason}", markup=False, highlight=False, soft_wrap=True
            )
        if len(check.failures) > _SHOWN:
            more = len(check.failures) - _SHOWN
            console.print(f"FAILED {check.name}: … and {more} more", soft_wrap=True)
    failed = sum(not c.ok for c in checks)
    if failed:
        console.print(f"[red]{failed} of {len(checks)} checks failed.[/]")
    else:
        console.print(f"[green]All {len(checks)} checks passed.[/]")


def run(args: argparse.Namespace) -> int:
    published = None
    if args.jwks is not None:
        try:
            published = json.loads(args.jwks.read_bytes())
        except (OSError, ValueError) as error:
            print(f"csm-audit: cannot read {args.jwks}: {error}", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="csm-audit-") as tmp:
        bundle: Path = args.bundle
        if bundle.is_file():
            try:
                bundle = unpack(bundle, Path(tmp))
            except (OSError, ValueError) as error:
                print(f"csm-audit: cannot unpack {args.bundle}: {error}", file=sys.stderr)
                return 1
        elif not bundle.is_dir():
            print(f"csm-audit: no bundle at {bundle}", file=sys.stderr)
            return 1
        with bars(args.quiet) as progress:
            total, advance = progress.task("verifying")
            checks = verify_bundle(bundle, published, total, advance, args.jobs)
    # Wide enough that a table row and a failure stay on one line each when piped to a file.
    console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
    report(checks, console)
    return 0 if all(c.ok for c in checks) else 1
