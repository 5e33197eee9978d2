"""`csm-questionnaire signing-keys list | rotate | retire KID`: the keys that sign the public topic.

They act on `CSM_SIGNING_KEY_DIR` (by default `<CSM_VAR_DIR>/signing-keys`, where `make run`
keeps them). A running service sees the change without a restart: after `rotate` it signs with
the new key, and `GET /.well-known/jwks.json` lists both. Retire a key only when no message it
signed is kept any more (the public topic's retention has passed): until then regulators need
it to verify what they read. Nothing retires a key by itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from csm_kernel import signing
from csm_kernel.runtime import ServiceCommand
from csm_kernel.settings import ServiceSettings


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the published keys, the active one marked")
    actions.add_parser("rotate", help="sign with a new key; the old one stays published")
    retire = actions.add_parser("retire", help="stop publishing a key (not the active one)")
    retire.add_argument(
        "kid",
        help="the key's id, as `list` shows it; write `retire -- KID` (an id is base64url, so "
        "it may start with '-', which would otherwise read as an option)",
    )


def _run(directory: Path, args: argparse.Namespace) -> int:
    if args.action == "rotate":
        kid = signing.rotate(directory)
        print(f"signing with {kid} from now on; the keys before it stay published")
        return 0
    if args.action == "retire":
        try:
            signing.retire(directory, args.kid)
        except (ValueError, FileNotFoundError) as exc:
            print(f"nothing retired: {exc}")
            return 1
        print(f"{args.kid} is no longer published")
        return 0
    try:
        ring = signing.KeyRing.load(directory)
    except FileNotFoundError:
        print(f"no signing keys in {directory} (the service makes the first when it starts)")
        return 1
    for key in ring.jwks()["keys"]:
        active = "  active" if key["kid"] == ring.active_kid else ""
        print(f"{key['kid']}{active}")
    return 0


def signing_keys_command(key_dir: Callable[[], Path]) -> ServiceCommand:
    """The command, acting on the directory `key_dir()` names (the service's setting)."""

    def run(args: argparse.Namespace, _: ServiceSettings) -> int:
        return _run(key_dir(), args)

    return ServiceCommand(
        "list, rotate or retire the keys that sign the public topic (CSM_SIGNING_KEY_DIR)",
        _arguments,
        run,
    )
