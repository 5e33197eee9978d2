"""What every benchmark shares: a private embedded stack, and one way to report figures."""

from __future__ import annotations

import contextlib
import json
import platform
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from csm_infra.settings import InfraSettings
from csm_infra.stack import EmbeddedStack


@contextlib.contextmanager
def private_stack() -> Iterator[InfraSettings]:
    """PostgreSQL and the broker on free loopback ports in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="csm-bench-") as tmp:
        settings = InfraSettings.on_free_ports(Path(tmp))
        stack = EmbeddedStack(settings)
        stack.up()
        try:
            yield settings
        finally:
            stack.down()


def report(**figures: Any) -> None:
    """Print the figures as JSON, with the date and the machine they were measured on."""
    machine = f"{platform.node()} {platform.machine()} {platform.processor()}".strip()
    print(
        json.dumps(
            {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
             **figures},
            indent=2,
        )
    )  # fmt: skip
