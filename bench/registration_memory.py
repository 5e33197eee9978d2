"""Registration's memory under oversized input (issue #24): its RSS before, after each probe
and after idling.

Run: `.venv/bin/python bench/registration_memory.py [--rounds 3] [--mb 40]`. Starts its own
PostgreSQL and broker on free loopback ports in a temporary directory and registration as its
own process (`csm-registration`, as `make run` does), warms it up with 20 registrations, then
sends each probe `--rounds` times with a body of about `--mb` MB: a sign-in with a huge password
(no token needed), an organisation with a huge name, deeply nested JSON, JSON of many small
keys, and a directory import of long lines (the one route that takes more than the 4 MiB cap).
To measure another version of the code, put its `libs/kernel/src` and
`services/registration/src` first on `PYTHONPATH` (the process inherits it).

Measured (2-core VM, 40 MB, 3 rounds): before the edge guard 85 MB -> 178 MB and kept (the
many-keys probe peaked at 484 MB); with it 85.5 -> 85.9 MB for every refused probe, 111 MB
after the three 42 MB imports. Figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from csm_contracts.auth import Role
from csm_infra.settings import InfraSettings
from csm_infra.stack import EmbeddedStack
from csm_kernel.auth import Principal, TokenSigner, ensure_keypair
from csm_kernel.links import ensure_link_key


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=40)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="memprobe-"))
    os.chmod(tmp, 0o755)
    settings = InfraSettings.on_free_ports(tmp)
    stack = EmbeddedStack(settings)
    stack.up()
    proc = None
    try:
        private, _ = ensure_keypair(settings.keys_dir)
        ensure_link_key(settings.keys_dir / "links.key")
        env = {**os.environ, **settings.service_env("registration")}
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "csm-registration")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = settings.service_ports["registration"]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("registration did not start")
            time.sleep(0.3)
        signer = TokenSigner(private.read_bytes())
        token, _ = signer.issue(
            Principal(
                user_id="admin",
                session_id="s",
                roles=frozenset({Role.NATIONAL_ADMIN}),
                organisation_id="NATIONAL",
                group_id=None,
            )
        )
        admin = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        client = httpx.Client(base_url=base, timeout=300)
        # Warm up: a few ordinary requests.
        for i in range(20):
            client.post(
                "/organisations",
                headers=admin,
                json={"code": f"W{i:02d}A", "name": f"Warm {i}", "kind": "pct", "region": "london"},
            )
        time.sleep(2)
        print(f"baseline RSS {rss_mb(proc.pid):.1f} MB", flush=True)
        big = args.mb * 1024 * 1024
        probes = {
            "sign-in, huge password (no token)": (
                "/auth/sign-in",
                {"content-type": "application/json"},
                json.dumps({"email": "a@example.org", "password": "x" * big}).encode(),
            ),
            "organisation, huge name": (
                "/organisations",
                admin,
                json.dumps(
                    {"code": "5A4", "name": "n" * big, "kind": "pct", "region": "london"}
                ).encode(),
            ),
            "deeply nested JSON": ("/organisations", admin, b"[" * (big // 4)),
            "many keys": (
                "/organisations",
                admin,
                json.dumps({f"k{i}": i for i in range(big // 16)}).encode(),
            ),
            "directory import, huge lines": (
                "/directory/services/import",
                {**admin, "content-type": "application/x-ndjson"},
                (json.dumps({"cycle": "2009-10", "name": "s" * 1000}) + "\n").encode()
                * (big // 1030),
            ),
        }
        for name, (url, headers, body) in probes.items():
            statuses = []
            for _ in range(args.rounds):
                try:
                    statuses.append(client.post(url, headers=headers, content=body).status_code)
                except httpx.HTTPError as exc:
                    statuses.append(type(exc).__name__)
            print(
                f"{name:40s} {len(body) / 1e6:6.1f} MB x{args.rounds}: {statuses} "
                f"RSS {rss_mb(proc.pid):.1f} MB",
                flush=True,
            )
        time.sleep(10)
        print(f"after 10 s idle RSS {rss_mb(proc.pid):.1f} MB", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        stack.down()


if __name__ == "__main__":
    main()
