"""`csm-infra up|down|status|mail`: the embedded servers, detached, data under $CSM_VAR_DIR."""

from __future__ import annotations

import argparse
import json

from .ports import PortInUse
from .settings import InfraSettings
from .smtp_sink import read_mailbox
from .stack import EmbeddedStack


def main() -> None:
    parser = argparse.ArgumentParser(prog="csm-infra", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "mail"])
    args = parser.parse_args()
    settings = InfraSettings.from_env()
    stack = EmbeddedStack(settings)
    try:
        if args.command == "up":
            stack.up()
            for name, state in stack.status().items():
                print(f"{name:10} {state}")
        elif args.command == "down":
            stack.down()
        elif args.command == "status":
            for name, state in stack.status().items():
                print(f"{name:10} {state}")
        else:
            print(json.dumps(read_mailbox(settings.mail_dir), indent=2))
    except PortInUse as exc:
        raise SystemExit(f"csm-infra: {exc}") from None


if __name__ == "__main__":
    main()
