"""`csm-audit`: a history an auditor can take away.

Subcommands come from `COMMANDS`: each names a module with `register(subparsers)` (which adds
its parser and sets `run`, a function of the parsed arguments returning the exit status).
A new subcommand is one more line there.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand -> the module that defines it
COMMANDS = {
    "export": "csm_audit.export_cmd",
    "verify": "csm_audit.verify_cmd",
    "replay": "csm_audit.replay",
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="csm-audit",
        description=(
            "Export the event history as a signed bundle; verify a bundle offline; replay it "
            "through reporting's projections."
        ),
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.run(args))
