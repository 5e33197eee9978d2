"""`csm-reporting`: serve the read models and keep them up to date."""

from csm_kernel.runtime import service_main

from ..bootstrap import build_app


def main() -> None:
    service_main("reporting", build_app)
