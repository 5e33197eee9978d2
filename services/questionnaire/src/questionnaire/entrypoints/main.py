"""`csm-questionnaire`."""

from csm_kernel.runtime import service_main

from ..bootstrap import build_app


def main() -> None:
    service_main("questionnaire", build_app)
