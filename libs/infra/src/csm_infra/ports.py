"""Port checks that fail with the name of the setting to change."""

from __future__ import annotations

import socket
import time


class PortInUse(RuntimeError):
    def __init__(self, port: int, setting: str) -> None:
        super().__init__(
            f"port {port} on 127.0.0.1 is already taken; set {setting} to a free port "
            f"(e.g. {setting}={port + 100})"
        )


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def ensure_free(port: int, setting: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortInUse(port, setting) from exc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_listening(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not start listening on 127.0.0.1:{port} within {timeout}s")
