"""docker-compose.yml, the Dockerfile and deploy/k8s cannot run here (no Docker engine, no
cluster), so check what can be checked: they parse, and they name every service and what it
depends on, consistently with the code."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from csm_contracts import Topics
from csm_infra.settings import DEFAULT_SERVICE_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
#: Services that keep data (a database) and use the broker; the portal does neither.
WITH_DATABASE = tuple(s for s in SERVICES if s != "portal")


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
        env = _env(svc)
        if name in WITH_DATABASE:
            assert {"postgres", "kafka"} <= depends, name
            assert env["CSM_DATABASE_URL"].endswith(f"/{name}"), name
            assert env["CSM_KAFKA_BOOTSTRAP"] == "kafka:9092"
        else:  # the portal keeps no data and uses no broker: no credentials for either
            assert not {"postgres", "kafka"} & depends
            assert "CSM_DATABASE_URL" not in env and "CSM_KAFKA_BOOTSTRAP" not in env
        assert env["CSM_HTTP_PORT"] == str(DEFAULT_SERVICE_PORTS[name])
        assert env["CSM_HTTP_HOST"] == "0.0.0.0"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
        # Peers by their compose names; nobody is told the portal's internal name (links in
        # emails use CSM_PUBLIC_URL, `test_no_service_writes_links_with_a_name_...`).
        for other in SERVICES:
            if other not in (name, "portal"):
                assert env[f"CSM_{other.upper()}_URL"] == (
                    f"http://{other}:{DEFAULT_SERVICE_PORTS[other]}"
                )
            assert "CSM_PORTAL_URL" not in env
        # Access tokens: everyone verifies with the public key; only registration signs.
        assert env["CSM_AUTH_PUBLIC_KEY_FILE"] == "/keys/auth-public.pem"
        assert ("CSM_AUTH_PRIVATE_KEY_FILE" in env) == (name == "registration")
        assert "auth-keys:/keys:ro" in svc["volumes"]
        assert svc["depends_on"]["auth-keys"]["condition"] == "service_completed_successfully"
    assert "mailpit" in set(services["notification"]["depends_on"])
    assert {"registration", "questionnaire", "reporting", "notification"} <= set(
        services["portal"]["depends_on"]
    )


def test_every_dependency_named_in_compose_exists() -> None:
    services = COMPOSE["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_postgres_init_creates_one_database_per_service_that_keeps_data() -> None:
    sql = (ROOT / "deploy" / "compose" / "postgres-init.sql").read_text()
    for name in SERVICES:
        found = re.search(rf"CREATE DATABASE\s+\"?{name}\"?", sql, re.IGNORECASE)
        assert bool(found) == (name in WITH_DATABASE), name


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


# --- Kubernetes: schemas, settings shared with compose, links, Kafka users, network, alerts ---

K8S = ROOT / "deploy" / "k8s"
#: The Kubernetes release the manifests are checked against (kubernetes-validate's schemas).
KUBERNETES_VERSION = "1.33.0"
#: Custom resources, whose schemas come with their operators' CRDs, which no package registry
#: this project uses ships (Strimzi and CloudNativePG publish them as release assets and Helm
#: charts; the prometheus-operator's only as generated code whose Python package loads a
#: pytest plugin that breaks this suite): checked by the tests below instead, field by field.
CUSTOM_KINDS = {
    "kafka.strimzi.io/v1beta2": {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"},
    "postgresql.cnpg.io/v1": {"Cluster", "Database"},
    "monitoring.coreos.com/v1": {"ServiceMonitor", "PrometheusRule"},
}
#: Variables only Kubernetes sets: the database and Kafka credentials (compose has neither a
#: password nor a Kafka user) and the pod's identity.
K8S_ONLY = {
    "POD_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "CSM_DB_PASSWORD",
    "CSM_KAFKA_SECURITY_PROTOCOL",
    "CSM_KAFKA_SASL_MECHANISM",
    "CSM_KAFKA_USERNAME",
    "CSM_KAFKA_PASSWORD",
    "CSM_KAFKA_CA_FILE",
}
#: Variables whose values name the platform's own servers: present in both, values differ.
PER_PLATFORM = {
    "CSM_DATABASE_URL",
    "CSM_KAFKA_BOOTSTRAP",
    "CSM_SMTP_HOST",
    "CSM_SMTP_PORT",
    "CSM_PUBLIC_URL",
}
#: Settings that hold the address links in emails start with.
LINK_SETTINGS = ("CSM_PUBLIC_URL", "CSM_PORTAL_URL")


def _k8s_docs() -> list[tuple[str, dict]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _k8s(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in _k8s_docs() if doc["kind"] == kind}


def _container(name: str) -> dict:
    (container,) = _k8s("Deployment")[name]["spec"]["template"]["spec"]["containers"]
    return container


def _k8s_env(name: str) -> dict[str, str]:
    return {e["name"]: e.get("value", "<from>") for e in _container(name)["env"]}


def test_every_kubernetes_object_is_valid_against_its_schema() -> None:
    import kubernetes_validate

    checked = 0
    for filename, doc in _k8s_docs():
        if doc["kind"] in CUSTOM_KINDS.get(doc["apiVersion"], set()):
            continue
        # Strict: a misspelt or misplaced field is an error, not silently ignored.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked += 1
    kinds = {doc["kind"] for _, doc in _k8s_docs()}
    assert {"Deployment", "Service", "Ingress", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    assert checked >= 3 * len(SERVICES)
    unknown = {
        (doc["apiVersion"], doc["kind"])
        for _, doc in _k8s_docs()
        if "." in doc["apiVersion"].split("/")[0]
        and doc["apiVersion"] not in ("networking.k8s.io/v1", "policy/v1")
        and doc["kind"] not in CUSTOM_KINDS.get(doc["apiVersion"], set())
    }
    assert not unknown, f"custom resources nobody checks: {unknown}"


def test_a_broken_object_fails_the_schema_check() -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    deployment = _k8s("Deployment")["registration"]
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "three"}}
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_compose_and_kubernetes_give_every_service_the_same_settings() -> None:
    for name in SERVICES:
        compose = _env(COMPOSE["services"][name])
        k8s = _k8s_env(name)
        assert set(compose) == set(k8s) - K8S_ONLY, (
            name,
            sorted(set(compose) ^ (set(k8s) - K8S_ONLY)),
        )
        for variable in set(compose) - PER_PLATFORM:
            assert compose[variable] == k8s[variable], (name, variable)
        command = COMPOSE["services"][name]["command"]
        assert _container(name)["command"] == [command]
        port = int(compose["CSM_HTTP_PORT"])
        assert _container(name)["ports"][0]["containerPort"] == port
        assert _k8s("Service")[name]["spec"]["ports"][0]["port"] == port


def _internal_hosts() -> set[str]:
    """Names that resolve only inside compose's network or the cluster."""
    return set(COMPOSE["services"]) | set(_k8s("Service")) | {"csm-postgres-rw"}


def _cluster_internal(url: str, internal: set[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return (
        host in internal
        or host.endswith((".svc", ".cluster.local", ".internal", ".local"))
        or ("." not in host and host != "localhost")
    )


def test_no_service_writes_links_with_a_name_only_the_cluster_resolves() -> None:
    internal = _internal_hosts()
    for platform, env_of in (
        ("compose", lambda n: _env(COMPOSE["services"][n])),
        ("k8s", _k8s_env),
    ):
        for name in SERVICES:
            env = env_of(name)
            for setting in LINK_SETTINGS:
                if setting in env:
                    assert not _cluster_internal(env[setting], internal), (platform, name, setting)
            # notification writes every link: it must be told where the portal is.
            if name == "notification":
                assert "CSM_PUBLIC_URL" in env, platform
    assert _cluster_internal("http://portal:8000", internal)  # what it used to say
    assert _cluster_internal("http://notification.csm.svc.cluster.local:8004", internal)
    assert not _cluster_internal("http://localhost:8000", internal)
    # One public address: the compose port the portal publishes; the Ingress host in k8s.
    assert {_env(COMPOSE["services"][n])["CSM_PUBLIC_URL"] for n in SERVICES} == {
        "http://localhost:8000"
    }
    assert "8000:8000" in COMPOSE["services"]["portal"]["ports"]
    (rule,) = _k8s("Ingress")["portal"]["spec"]["rules"]
    assert {_k8s_env(n)["CSM_PUBLIC_URL"] for n in SERVICES} == {f"https://{rule['host']}"}
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "portal"
    assert rule["host"] in _k8s("Ingress")["portal"]["spec"]["tls"][0]["hosts"]


def test_the_portal_gets_no_database_or_broker_credentials() -> None:
    env = _k8s_env("portal")
    assert not {k for k in env if k.startswith(("CSM_DB", "CSM_DATABASE", "CSM_KAFKA"))}
    assert "csm-portal-db" not in (K8S / "postgres.yaml").read_text()
    assert "csm-portal" not in _k8s("KafkaUser")
    for name in WITH_DATABASE:
        secret = _k8s_env(name)
        assert secret["CSM_DATABASE_URL"].startswith(f"postgresql://{name}:$(CSM_DB_PASSWORD)@")
        assert secret["CSM_KAFKA_USERNAME"] == f"csm-{name}"
        password = next(e for e in _container(name)["env"] if e["name"] == "CSM_KAFKA_PASSWORD")
        assert password["valueFrom"]["secretKeyRef"] == {"name": f"csm-{name}", "key": "password"}


def _acls(user: str) -> dict[tuple[str, str, str], set[str]]:
    spec = _k8s("KafkaUser")[user]["spec"]
    assert spec["authentication"]["type"] == "scram-sha-512"
    found: dict[tuple[str, str, str], set[str]] = {}
    for acl in spec["authorization"]["acls"]:
        r = acl["resource"]
        found.setdefault((r["type"], r["name"], r.get("patternType", "literal")), set()).update(
            acl["operations"]
        )
    return found


#: Each service's consumer groups and the topics each reads, as its subscriptions declare them
#: (the group names are checked against the services' code below).
CONSUMES: dict[str, dict[str, tuple[str, ...]]] = {
    "registration": {"registration": (Topics.QUESTIONNAIRE,)},
    "questionnaire": {"questionnaire": (Topics.REGISTRATION,)},
    "notification": {
        "notification.registration": (Topics.REGISTRATION,),
        "notification.questionnaire": (Topics.QUESTIONNAIRE,),
    },
    "reporting": {"reporting": (Topics.REGISTRATION, Topics.QUESTIONNAIRE, Topics.NOTIFICATION)},
}
PUBLISHES = ("registration", "questionnaire", "notification")


def _expected_acls(service: str) -> dict[tuple[str, str, str], set[str]]:
    expected: dict[tuple[str, str, str], set[str]] = {}

    def allow(kind: str, name: str, *operations: str) -> None:
        expected.setdefault((kind, name, "literal"), set()).update(operations)

    if service in PUBLISHES:
        produced = {Topics.for_source(service)} | {
            topic
            for event_type in Topics.PUBLIC_EVENT_TYPES
            if event_type.startswith(f"{service}.")
            for topic in Topics.for_event(event_type)
        }
        for topic in produced:
            allow("topic", topic, "Write", "Describe", "Read")
        allow("topic", Topics.REPUBLISH_REQUESTS, "Read")
    for group, topics in CONSUMES[service].items():
        allow("group", group, "Read")
        for topic in topics:
            allow("topic", topic, "Read", "Describe")
        allow("topic", Topics.dead_letter(group), "Write", "Describe", "Create")
    allow("topic", Topics.REPUBLISH_REQUESTS, "Write", "Describe")
    return expected


def test_each_service_logs_in_to_kafka_allowed_exactly_its_topics() -> None:
    for service in WITH_DATABASE:
        assert _acls(f"csm-{service}") == _expected_acls(service), service
        code = "\n".join(p.read_text() for p in (ROOT / "services" / service / "src").rglob("*.py"))
        for group in CONSUMES[service]:
            assert f'"{group}"' in code, f"{service} has no consumer group {group!r} any more"
    assert set(_k8s("KafkaUser")) == {f"csm-{s}" for s in WITH_DATABASE} | {"regulator"}
    # The broker asks every client to log in, and authorises by those ACLs.
    kafka = _k8s("Kafka")["csm-kafka"]["spec"]["kafka"]
    assert kafka["authorization"]["type"] == "simple"
    assert all(
        listener["authentication"]["type"] == "scram-sha-512" for listener in kafka["listeners"]
    )
    assert {listener["port"] for listener in kafka["listeners"]} == {9093}
    for service in WITH_DATABASE:
        assert _k8s_env(service)["CSM_KAFKA_BOOTSTRAP"] == "csm-kafka-kafka-bootstrap:9093"
    # Every topic a user may use exists (or is one its user may create: a dead-letter topic).
    topics = {t["spec"]["topicName"] for t in _k8s("KafkaTopic").values()}
    for user in _k8s("KafkaUser"):
        for kind, name, _ in _acls(user):
            assert kind != "topic" or name in topics, (user, name)


def test_the_regulator_may_only_read_the_public_sign_off_topic() -> None:
    assert _acls("regulator") == {
        ("topic", Topics.PUBLIC_SIGNOFFS, "literal"): {"Read", "Describe"},
        ("group", "regulator", "prefix"): {"Read"},
    }


def test_network_policies_let_each_service_reach_only_what_it_uses() -> None:
    policies = _k8s("NetworkPolicy")
    deny = policies["csm-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny
    assert deny["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "csm"}
    ports = {n: int(_env(COMPOSE["services"][n])["CSM_HTTP_PORT"]) for n in SERVICES}
    for name in SERVICES:
        spec = policies[name]["spec"]
        pod_labels = _k8s("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
        reached = {
            (
                peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name"),
                port["port"],
            )
            for rule in spec["egress"]
            for peer in rule["to"]
            for port in rule["ports"]
        }
        database = any(
            "cnpg.io/cluster" in peer.get("podSelector", {}).get("matchLabels", {})
            for rule in spec["egress"]
            for peer in rule["to"]
        )
        assert database == (name in WITH_DATABASE), name
        callers = {
            peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            for rule in spec["ingress"]
            for peer in rule["from"]
            if "podSelector" in peer
        }
        if name == "portal":
            assert {(s, ports[s]) for s in WITH_DATABASE} <= reached
            assert callers == set()  # people come through the Ingress controller only
        else:
            assert not {(s, ports[s]) for s in SERVICES} & reached  # services call no one
            assert callers == {"portal"}


def test_prometheus_scrapes_every_service_and_both_platforms_alert_alike() -> None:
    (monitor,) = _k8s("ServiceMonitor").values()
    for name in SERVICES:
        service = _k8s("Service")[name]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= (
            service["metadata"]["labels"].items()
        )
        assert service["spec"]["ports"][0]["name"] == monitor["spec"]["endpoints"][0]["port"]
        annotations = _k8s("Deployment")[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(
            _container(name)["ports"][0]["containerPort"]
        )
        assert annotations["prometheus.io/path"] == "/metrics"
    scraped = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    targets = {
        c["job_name"]: c["static_configs"][0]["targets"][0] for c in scraped["scrape_configs"]
    }
    for name in SERVICES:
        assert targets[name] == f"{name}:{_env(COMPOSE['services'][name])['CSM_HTTP_PORT']}"
    (rule,) = _k8s("PrometheusRule").values()
    compose_rules = yaml.safe_load((ROOT / "deploy" / "compose" / "alerts.yml").read_text())
    assert compose_rules["groups"] == rule["spec"]["groups"]
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "CSMRelayBehind",
        "CSMConsumerLagging",
        "CSMDeadLettersGrowing",
        "CSMNotificationsFailing",
        "CSMProjectionLagging",
        "CSMSignOffNotPublished",
    } <= alerts
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            assert r["labels"]["severity"] in ("warning", "critical")
            assert r["annotations"]["summary"] and r["annotations"]["description"]


def test_grafana_shows_the_dashboard_from_deploy() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "csm.json").read_text())
    source = yaml.safe_load((ROOT / "deploy" / "compose" / "grafana-provisioning.yaml").read_text())
    uid = source["datasources"][0]["uid"]
    expressions = " ".join(
        t["expr"]
        for p in dashboard["panels"]
        for t in p["targets"]
        if p["datasource"]["uid"] == uid
    )
    for metric in (
        "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_bucket",
        "csm_relay_unpublished_events",
        "csm_consumer_lag_messages",
        "csm_dead_letters_pending",
        "csm_notifications_queued",
        "csm_projection_lag_seconds",
    ):
        assert metric in expressions, metric
    grafana = COMPOSE["services"]["grafana"]
    assert "./deploy/grafana:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    assert "prometheus" in COMPOSE["services"]


def test_every_environment_creates_the_topics_one_definition_gives() -> None:
    # Kubernetes: one KafkaTopic per definition, as defined; the broker creates none itself.
    k8s = {t["spec"]["topicName"]: t["spec"] for t in _k8s("KafkaTopic").values()}
    assert set(k8s) == {spec.name for spec in Topics.definitions()}
    for spec in Topics.definitions():
        made = k8s[spec.name]
        assert made["partitions"] == spec.partitions, spec.name
        assert str(made["config"]["retention.ms"]) == str(spec.retention_ms), spec.name
    assert _k8s("Kafka")["csm-kafka"]["spec"]["kafka"]["config"]["auto.create.topics.enable"] in (
        False,
        "false",
    )
    # Compose: a job creates them before any service starts; the broker creates none itself.
    job = COMPOSE["services"]["kafka-topics"]
    assert job["command"][:2] == ["csm-infra", "topics"]
    assert COMPOSE["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for service in WITH_DATABASE:
        depends = COMPOSE["services"][service]["depends_on"]
        assert depends["kafka-topics"]["condition"] == "service_completed_successfully", service
    # Every consumer group the services declare has its dead-letter topic defined.
    groups = {group for service in CONSUMES.values() for group in service}
    assert groups == set(Topics.CONSUMER_GROUPS)
