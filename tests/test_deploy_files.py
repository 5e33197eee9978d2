"""docker-compose.yml, the Dockerfile and deploy/k8s cannot run here (no Docker engine, no
cluster), so check what can be checked: they parse, and they name every service and what it
depends on, consistently with the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from csm_infra.settings import DEFAULT_SERVICE_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_runs_every_service_from_its_console_script() -> None:
    services = COMPOSE["services"]
    for name in SERVICES:
        assert name in services, f"{name} missing from docker-compose.yml"
        svc = services[name]
        command = svc["command"] if isinstance(svc["command"], str) else " ".join(svc["command"])
        assert command.split()[0] == f"csm-{name}"
        scripts = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())
        assert f"csm-{name}" in scripts["project"]["scripts"]


def test_compose_has_the_infrastructure_the_design_names() -> None:
    services = COMPOSE["services"]
    images = {name: svc.get("image", "") for name, svc in services.items()}
    assert "apache/kafka" in images["kafka"]
    assert _env(services["kafka"])["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert images["postgres"].startswith("postgres")
    assert "opentelemetry-collector" in images["otel-collector"]
    assert "jaeger" in images["jaeger"]
    assert "mailpit" in images["mailpit"]


def test_each_service_depends_on_what_it_uses_and_gets_its_settings() -> None:
    services = COMPOSE["services"]
    for name in SERVICES:
        svc = services[name]
        depends = set(svc["depends_on"])
        assert {"postgres", "kafka"} <= depends, name
        env = _env(svc)
        assert env["CSM_DATABASE_URL"].endswith(f"/{name}"), name
        assert env["CSM_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["CSM_HTTP_PORT"] == str(DEFAULT_SERVICE_PORTS[name])
        assert env["CSM_HTTP_HOST"] == "0.0.0.0"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
        for other in SERVICES:
            if other != name and not (name == "registration" and other == "portal"):
                assert env[f"CSM_{other.upper()}_URL"] == (
                    f"http://{other}:{DEFAULT_SERVICE_PORTS[other]}"
                )
        # Access tokens: everyone verifies with the public key; only registration signs.
        assert env["CSM_AUTH_PUBLIC_KEY_FILE"] == "/keys/auth-public.pem"
        assert ("CSM_AUTH_PRIVATE_KEY_FILE" in env) == (name == "registration")
        assert "auth-keys:/keys:ro" in svc["volumes"]
        assert svc["depends_on"]["auth-keys"]["condition"] == "service_completed_successfully"
    assert "mailpit" in set(services["notification"]["depends_on"])
    # Links people open from their email must use the portal's public address.
    assert _env(services["registration"])["CSM_PORTAL_URL"] == "http://localhost:8000"
    assert {"registration", "questionnaire", "reporting", "notification"} <= set(
        services["portal"]["depends_on"]
    )


def test_every_dependency_named_in_compose_exists() -> None:
    services = COMPOSE["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_postgres_init_creates_one_database_per_service() -> None:
    sql = (ROOT / "deploy" / "compose" / "postgres-init.sql").read_text()
    for name in SERVICES:
        assert re.search(rf"CREATE DATABASE\s+\"?{name}\"?", sql, re.IGNORECASE), name


def test_dockerfile_installs_the_locked_workspace() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen" in dockerfile
    assert "uv.lock" in dockerfile


def test_kubernetes_manifests_parse_and_cover_every_service() -> None:
    kinds: dict[str, set[str]] = {}
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kinds.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    for name in SERVICES:
        assert any(name in n for n in kinds.get("Deployment", set())), name
        assert any(name in n for n in kinds.get("Service", set())), name
