"""`csm-reporting`: serve the read models and keep them up to date; `csm-reporting rebuild`
rebuilds projections from the full history, `csm-reporting verify` checks the journal's hash
chains (`--help` lists every command)."""

from collections.abc import Sequence

from csm_kernel.runtime import service_main

from ..bootstrap import build_app
from .cli import REBUILD, VERIFY


def main(argv: Sequence[str] | None = None) -> None:
    # Reporting's own verify replaces the kernel's (which would check reporting's empty
    # `events` table): it checks the journal's chains as received.
    service_main("reporting", build_app, {"rebuild": REBUILD, "verify": VERIFY}, argv=argv)
