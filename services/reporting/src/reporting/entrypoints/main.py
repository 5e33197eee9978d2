"""`csm-reporting`: serve the read models and keep them up to date; `csm-reporting rebuild`
rebuilds projections from the full history (`--help` lists every command)."""

from collections.abc import Sequence

from csm_kernel.runtime import service_main

from ..bootstrap import build_app
from .cli import REBUILD


def main(argv: Sequence[str] | None = None) -> None:
    service_main("reporting", build_app, {"rebuild": REBUILD}, argv=argv)
