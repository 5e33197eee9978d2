"""Several HTTP processes of one service on one port (`CSM_WORKERS` > 1), each with a listening
socket of its own (`SO_REUSEPORT`), so the operating system spreads connections across them.

uvicorn's own `workers=` shares one listening socket among its processes, and the first process
to wake accepts every connection waiting: a client that opens its keep-alive connections at
once (a load generator, the portal's connection pool) had all ten of them served by one of two
processes, measured on the reporting service, and the other process idle. With a socket each,
the kernel hashes each new connection to one of them.

The parent only supervises: it checks that the port is free (a socket without `SO_REUSEPORT`,
so a forgotten process of the same service still listening is an error, not a silent partner),
starts the workers, restarts one that dies, and passes SIGINT/SIGTERM on to all of them.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

from .observability import configure_logging, configure_tracing, get_logger
from .process import freeze_startup_heap
from .settings import ServiceSettings

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1
#: A worker that dies sooner than this after starting is restarted only after a pause.
_QUICK_DEATH_SECONDS = 5.0


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket listening on (host, port); with `reuse_port`, one of several sharing it."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def serve_workers(name: str, app_factory: Callable[..., object], settings: ServiceSettings) -> None:
    """Run `settings.workers` processes of the service's HTTP app until SIGINT or SIGTERM.

    The factory travels by name (each process imports it afresh); one process relays (the
    relay's leader lock) and every one serves requests and consumes its share of the topics."""
    factory = f"{app_factory.__module__}:{app_factory.__qualname__}"
    try:
        listening_socket(settings.http_host, settings.http_port, reuse_port=False).close()
    except OSError as exc:
        raise SystemExit(
            f"csm-{name}: cannot listen on {settings.http_host}:{settings.http_port} ({exc}); "
            f"is another process using it? Set CSM_HTTP_PORT to change it"
        ) from None
    context = multiprocessing.get_context("spawn")
    processes: dict[int, tuple[multiprocessing.process.BaseProcess, float]] = {}
    stopping = False

    def start(slot: int) -> None:
        process = context.Process(
            target=_worker,
            args=(name, factory, os.getpid()),
            name=f"csm-{name}-worker-{slot}",
        )
        process.start()
        processes[slot] = (process, time.monotonic())

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process, _started in processes.values():
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for slot in range(settings.workers):
            start(slot)
        log.info("workers started", workers=settings.workers, port=settings.http_port)
        # The supervisor imported the whole service to find its factory: unfrozen, every full
        # collection walked those ~110k objects (64-80 ms of a core every 15-50 s).
        freeze_startup_heap()
        while not stopping:
            time.sleep(0.5)
            for slot, (process, started) in list(processes.items()):
                if stopping or process.is_alive():
                    continue
                log.warning("worker died; starting another", slot=slot, exitcode=process.exitcode)
                if time.monotonic() - started < _QUICK_DEATH_SECONDS:
                    time.sleep(_QUICK_DEATH_SECONDS)
                if not stopping:  # a stop may have come during the pause
                    start(slot)
    finally:
        for process, _started in processes.values():
            process.join(60)
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _detach_from_terminal_signals(parent: int) -> None:
    """A worker hears SIGINT/SIGTERM from its parent only: out of the terminal's process group
    (so Ctrl-C does not reach it twice, which uvicorn takes as "exit now"), and sent SIGTERM
    by the kernel if the parent dies without stopping it (Linux)."""
    os.setpgid(0, 0)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request above was made
            os.kill(os.getpid(), signal.SIGTERM)


def _worker(name: str, factory: str, parent: int) -> None:
    import uvicorn

    _detach_from_terminal_signals(parent)

    module, _, attribute = factory.partition(":")
    app_factory = getattr(importlib.import_module(module), attribute)
    configure_logging(name)
    configure_tracing(name)
    settings = ServiceSettings()
    app = app_factory(settings)
    sock = listening_socket(settings.http_host, settings.http_port, reuse_port=True)
    config = uvicorn.Config(app, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
