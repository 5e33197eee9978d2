"""The national deployment's shape on one machine: the embedded PostgreSQL, broker (every
topic as production has it, 12 partitions) and SMTP sink, and N replicas of every service as
separate processes (own process, same database and broker, same consumer groups), each
service behind a round-robin balancer on its usual port, as a Kubernetes Service would be.

Faults: a replica killed with SIGKILL and started again, a rolling restart (one replica at a
time, SIGTERM, wait until ready), PostgreSQL restarted, the broker restarted (empty)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rehearsal_cpu import CpuAccount

from csm_infra.ports import free_port
from csm_infra.settings import InfraSettings
from csm_infra.stack import EmbeddedStack

#: The services that run replicated (the portal is left out: the rehearsal drives the APIs).
SERVICES = ("registration", "questionnaire", "notification", "reporting")


@dataclass
class Replica:
    service: str
    index: int
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    #: The CPU of every life of the service's replicas (shared by them).
    cpu: CpuAccount = field(default_factory=CpuAccount)

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which(f"csm-{self.service}") or os.path.join(
            os.path.dirname(sys.executable), f"csm-{self.service}"
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([exe], env=self.env, stdout=out, stderr=out)
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 120) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise RuntimeError(f"{self.name} died: {self.log.read_text()[-2000:]}")
            if self.ready():
                assert self.proc is not None
                self.cpu.started(self.proc.pid)
                return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s")

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.cpu.retire(self.proc.pid)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.cpu.retire(self.proc.pid)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Balancer:
    """Round-robin TCP balancing over a service's live replicas, on the service's port: each
    new connection goes to the next replica that accepts it (a dead one is skipped)."""

    def __init__(self, port: int, replicas: list[Replica]) -> None:
        self.port = port
        self.replicas = replicas
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in range(len(self.replicas)):
            replica = self.replicas[next(self._turn) % len(self.replicas)]
            try:
                upstream = await asyncio.open_connection("127.0.0.1", replica.port)
                break
            except OSError:
                continue
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class Cluster:
    """The stack, the replicas and their balancers; `with Cluster.started(...)`."""

    settings: InfraSettings
    stack: EmbeddedStack
    replicas: dict[str, list[Replica]]
    extra_env: dict[str, str] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _balancers: list[Balancer] = field(default_factory=list)
    #: CPU of every life of PostgreSQL (postmaster and backends) and of the broker.
    postgres_cpu: CpuAccount = field(default_factory=CpuAccount)
    broker_cpu: CpuAccount = field(default_factory=CpuAccount)

    @classmethod
    @contextlib.contextmanager
    def started(
        cls,
        directory: Path,
        replicas: int | Mapping[str, int] = 3,
        extra_env: dict[str, str] | None = None,
    ) -> Iterator[Cluster]:
        """The stack and `replicas` of every service (a number per service, or one for all),
        each started with `extra_env` over the service's usual settings."""
        settings = InfraSettings.on_free_ports(directory)
        stack = EmbeddedStack(settings)
        stack.up()
        cluster = cls(settings, stack, {}, dict(extra_env or {}))
        try:
            cluster._start_balancers(replicas)
            for service in SERVICES:
                for replica in cluster.replicas[service]:
                    replica.start()
            for service in SERVICES:
                for replica in cluster.replicas[service]:
                    replica.wait_ready()
            yield cluster
        finally:
            for group in cluster.replicas.values():
                for replica in group:
                    replica.stop()
            cluster._stop_balancers()
            stack.down()

    def url(self, service: str) -> str:
        """The service as its clients reach it: through its balancer."""
        return f"http://127.0.0.1:{self.settings.service_ports[service]}"

    def all_replicas(self) -> list[Replica]:
        return [r for group in self.replicas.values() for r in group]

    def _start_balancers(self, replicas: int | Mapping[str, int]) -> None:
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            count = replicas if isinstance(replicas, int) else replicas[service]
            account = CpuAccount()
            env = {
                **os.environ,
                **self.settings.service_env(service),
                "CSM_KAFKA_SESSION_TIMEOUT_MS": "6000",
                "CSM_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
                **self.extra_env,
            }
            self.replicas[service] = [
                Replica(
                    service,
                    i,
                    port,
                    {**env, "CSM_HTTP_PORT": str(port), "OTEL_SERVICE_INSTANCE_ID": f"{i}"},
                    self.settings.log_dir / f"{service}-{i}.log",
                    cpu=account,
                )
                for i, port in enumerate(free_port() for _ in range(count))
            ]
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            for service in SERVICES:
                balancer = Balancer(self.settings.service_ports[service], self.replicas[service])
                loop.run_until_complete(balancer.start())
                self._balancers.append(balancer)
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, name="balancers", daemon=True).start()
        ready.wait(10)

    def _stop_balancers(self) -> None:
        if self._loop is not None:
            for balancer in self._balancers:
                asyncio.run_coroutine_threadsafe(balancer.close(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)

    # Faults ------------------------------------------------------------------------------

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, StopIteration):
            pidfile = self.settings.pg_dir.rglob("postmaster.pid")
            return int(next(pidfile).read_text().split()[0])
        return None

    def broker_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.settings.run_dir / "broker.pid").read_text().strip())
        return None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU used so far by each service's replicas (every life), PostgreSQL and the broker."""
        out = {
            service: group[0].cpu.total(r.proc.pid for r in group if r.alive() and r.proc)
            for service, group in self.replicas.items()
        }
        out["postgres"] = self.postgres_cpu.total([self.postmaster_pid()])
        out["broker"] = self.broker_cpu.total([self.broker_pid()])
        return out

    def restart_postgres(self, down_for: float = 2) -> None:
        self.postgres_cpu.retire(self.postmaster_pid())
        self.stack.postgres.stop()
        time.sleep(down_for)
        self.stack.postgres.start()

    def restart_broker(self) -> None:
        self.broker_cpu.retire(self.broker_pid())
        self.stack.restart_broker()

    def rolling_restart(self, service: str) -> list[float]:
        """Each replica in turn stopped (SIGTERM) and started; seconds each took to be ready."""
        took = []
        for replica in self.replicas[service]:
            replica.stop()
            replica.start()
            took.append(replica.wait_ready())
        return took
