"""Where the embedded servers live and listen. Every value can be overridden by environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("registration", "questionnaire", "reporting", "notification", "portal")

DEFAULT_SERVICE_PORTS = {
    "portal": 8000,
    "registration": 8001,
    "questionnaire": 8002,
    "reporting": 8003,
    "notification": 8004,
}


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class InfraSettings:
    var_dir: Path
    pg_port: int = 55432
    broker_port: int = 19092
    smtp_port: int = 1025
    service_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SERVICE_PORTS))

    @classmethod
    def from_env(cls) -> InfraSettings:
        return cls(
            var_dir=Path(os.environ.get("CSM_VAR_DIR", "var")).resolve(),
            pg_port=_int("CSM_PG_PORT", 55432),
            broker_port=_int("CSM_BROKER_PORT", 19092),
            smtp_port=_int("CSM_SMTP_PORT", 1025),
            service_ports={
                s: _int(f"CSM_{s.upper()}_PORT", p) for s, p in DEFAULT_SERVICE_PORTS.items()
            },
        )

    @classmethod
    def on_free_ports(cls, var_dir: Path) -> InfraSettings:
        """Settings for a private stack (tests, benchmarks) on ports nothing else is using."""
        from .ports import free_port

        return cls(
            var_dir=var_dir,
            pg_port=free_port(),
            broker_port=free_port(),
            smtp_port=free_port(),
            service_ports={s: free_port() for s in DEFAULT_SERVICE_PORTS},
        )

    @property
    def pg_dir(self) -> Path:
        return self.var_dir / "postgres"

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    def database_url(self, service: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{service}"

    @property
    def traces_file(self) -> Path:
        """Where `make run`'s services write their spans (OTLP JSON; `csm-traces` reads it)."""
        return self.var_dir / "traces" / "spans.jsonl"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def signing_keys_dir(self) -> Path:
        """Questionnaire's key ring for the public topic (`CSM_SIGNING_KEY_DIR`)."""
        return self.var_dir / "signing-keys"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def service_env(self, service: str) -> dict[str, str]:
        """The environment a service process gets: its own database, the broker, SMTP, ports."""
        env = {
            "CSM_DATABASE_URL": self.database_url(service),
            "CSM_KAFKA_BOOTSTRAP": self.bootstrap_servers,
            "CSM_SMTP_HOST": "127.0.0.1",
            "CSM_SMTP_PORT": str(self.smtp_port),
            "CSM_HTTP_PORT": str(self.service_ports[service]),
            # Registration signs access tokens; every service verifies them.
            "CSM_AUTH_PUBLIC_KEY_FILE": str(self.keys_dir / "auth-public.pem"),
        }
        if service in ("registration", "questionnaire", "notification"):
            env["CSM_LINK_KEY_FILE"] = str(self.keys_dir / "links.key")
        if service in ("registration", "portal"):
            # The portal vouches with it for the address of the person signing in.
            env["CSM_PORTAL_KEY_FILE"] = str(self.keys_dir / "portal.key")
        if service == "portal":
            # The embedded stack's mailbox page reads what the SMTP sink kept; it is off unless
            # turned on (for local use only), and shown only to a signed-in national admin.
            env["CSM_MAILBOX_DIR"] = str(self.mail_dir)
            env["CSM_MAILBOX_ENABLED"] = "true"
        if service == "questionnaire":
            # Signs the regulators' feed; the first start makes the first key.
            env["CSM_SIGNING_KEY_DIR"] = str(self.signing_keys_dir)
        if service == "registration":
            env["CSM_AUTH_PRIVATE_KEY_FILE"] = str(self.keys_dir / "auth-private.pem")
        for other, port in self.service_ports.items():
            env[f"CSM_{other.upper()}_URL"] = f"http://127.0.0.1:{port}"
        # Links in emails: the portal as the browser on this machine reaches it.
        env["CSM_PUBLIC_URL"] = env["CSM_PORTAL_URL"]
        return env
