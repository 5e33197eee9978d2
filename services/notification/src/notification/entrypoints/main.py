"""`csm-notification`."""

from csm_kernel.runtime import service_main

from ..bootstrap import build_app


def main() -> None:
    service_main("notification", build_app)
