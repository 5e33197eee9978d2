"""`csm-infra up|down|status|mail|topics`: the embedded servers, detached, data under
$CSM_VAR_DIR; `topics` creates every topic as production has it on the broker at
$CSM_KAFKA_BOOTSTRAP (or `--bootstrap`) and lists them."""

from __future__ import annotations

import argparse
import json
import os

from csm_contracts.topics import KEEP_FOREVER, Topics

from .broker import create_topics
from .ports import PortInUse
from .settings import InfraSettings
from .smtp_sink import read_mailbox
from .stack import EmbeddedStack


def main() -> None:
    parser = argparse.ArgumentParser(prog="csm-infra", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "mail", "topics"])
    parser.add_argument("--bootstrap", help="the broker for `topics` (default: the embedded one)")
    args = parser.parse_args()
    settings = InfraSettings.from_env()
    if args.command == "topics":
        bootstrap = args.bootstrap or os.environ.get(
            "CSM_KAFKA_BOOTSTRAP", settings.bootstrap_servers
        )
        _print_topics(create_topics(bootstrap))
        return
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


def _print_topics(partitions: dict[str, int]) -> None:
    for spec in Topics.definitions():
        kept = "forever" if spec.retention_ms == KEEP_FOREVER else f"{spec.retention_ms} ms"
        print(
            f"{spec.name:40} {partitions.get(spec.name, 0):>3} partitions  kept {kept:12} "
            f"{spec.purpose}"
        )


if __name__ == "__main__":
    main()
