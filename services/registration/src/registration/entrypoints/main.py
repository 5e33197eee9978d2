"""`csm-registration`: serve, republish or verify."""

from csm_kernel.runtime import service_main

from ..bootstrap import build_app


def main() -> None:
    service_main("registration", build_app)
