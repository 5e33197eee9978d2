"""`csm-reporting`: serve the read models and keep them up to date; `csm-reporting rebuild`
rebuilds projections from the full history, `csm-reporting verify` checks the journal's hash
chains (`--help` lists every command)."""

import argparse
import sys
from collections.abc import Sequence

from csm_kernel.observability import configure_logging
from csm_kernel.runtime import service_main
from csm_kernel.settings import command_settings

from ..bootstrap import build_app
from .cli import REBUILD, VERIFY


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["verify"]:
        # Reporting's own verify, not the kernel's (which checks reporting's empty `events`
        # table and says every chain holds). `service_main` cannot take it in `commands`
        # while the kernel adds a `verify` of its own: argparse refuses a second one.
        parser = argparse.ArgumentParser(prog="csm-reporting verify", description=VERIFY.help)
        VERIFY.add_arguments(parser)
        parsed = parser.parse_args(args[1:])
        configure_logging("reporting")
        sys.exit(VERIFY.run(parsed, command_settings("reporting")))
    service_main("reporting", build_app, {"rebuild": REBUILD}, argv=argv)
