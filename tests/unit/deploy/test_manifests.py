"""Deployment manifests: deploy/k8s (Kubernetes + Strimzi), docker-compose.yml, Dockerfile.

Static checks only: no cluster, no Docker. Core Kubernetes resources are validated
against the official schemas (kubernetes-validate, strict: unknown fields fail); the
Strimzi and Prometheus Operator custom resources against their CRDs' OpenAPI schemas
(deploy/schemas, jsonschema). ``kubectl kustomize`` builds the base and each overlay,
and every built object is validated the same way.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.gateway.routes import PREFIXES
from shared import topics
from shared.http import install_probes

ROOT = Path(__file__).resolve().parents[3]
K8S_DIR = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
COMPOSE_FILE = ROOT / "docker-compose.yml"
POSTGRES_INIT = ROOT / "deploy" / "postgres" / "init.sql"
DOCKERFILE = ROOT / "Dockerfile"

K8S_VERSION = "1.31.0"
NAMESPACE = "interact"
IMAGE = "interact"
RUN_AS_USER = 10001

SERVICE_PORTS = {
    "conversation": 8000,
    "ingest": 8001,
    "routing": 8002,
    "stats": 8003,
    "billing": 8004,
    "sla": 8005,
}
SERVICE_DATABASES = {name: f"interact_{name}" for name in SERVICE_PORTS}
#: The gateway has no database: it serves the Portal and forwards by path prefix.
GATEWAY_PORT = 8080
DEPLOYED_PORTS = {**SERVICE_PORTS, "gateway": GATEWAY_PORT}
AUTOSCALED = {"conversation", "routing"}
LIVENESS_PATH = "/health"
READINESS_PATH = "/ready"

PARTITIONS = 6
TOPIC_REPLICAS = 3

STRIMZI_API = "kafka.strimzi.io/v1"
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"
MONITORING_API = "monitoring.coreos.com/v1"
# Custom resources kubernetes-validate has no schema for: their CRDs' schemas are in
# deploy/schemas (see its README), and KafkaTopics are also checked structurally below.
CUSTOM_KINDS = {
    (STRIMZI_API, "Kafka"),
    (STRIMZI_API, "KafkaNodePool"),
    (STRIMZI_API, "KafkaTopic"),
    (STRIMZI_API, "KafkaUser"),
    (MONITORING_API, "ServiceMonitor"),
    (MONITORING_API, "PodMonitor"),
    (MONITORING_API, "PrometheusRule"),
}
KAFKA_TOPIC_SPEC_KEYS = {"partitions", "replicas", "config", "topicName"}

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TOPIC_NAME_RE = re.compile(r"interact\.[a-z0-9-]+\.v\d+")


# --- loading ---------------------------------------------------------------------------


def _manifest_files() -> list[Path]:
    return sorted(
        p for p in K8S_DIR.iterdir() if p.suffix in {".yaml", ".yml"} and p != KUSTOMIZATION
    )


def _load_documents() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in _manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:  # empty document, e.g. a trailing "---"
                continue
            assert isinstance(doc, dict), f"{path.name}: a document is not a mapping"
            docs.append((path.name, doc))
    return docs


DOCUMENTS = _load_documents()


def _doc_id(item: tuple[str, dict[str, Any]]) -> str:
    filename, doc = item
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{filename}:{doc.get('kind', '?')}/{name}"


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in DOCUMENTS if doc.get("kind") == kind]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in _of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} named {name!r}, found {len(found)}"
    return found[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "each service pod runs one container"
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def _resolve_port(container: dict[str, Any], port: int | str) -> int:
    """The containerPort a probe or Service targetPort refers to (by name or number)."""
    declared = container.get("ports", [])
    for entry in declared:
        if port in (entry.get("name"), entry["containerPort"]):
            return entry["containerPort"]
    raise AssertionError(f"port {port!r} is not a declared port of container {container['name']}")


def _config_map() -> dict[str, str]:
    return _one("ConfigMap", "interact-config")["data"]


def _secret() -> dict[str, str]:
    (secret,) = _of_kind("Secret")
    return secret.get("stringData", {})


def _load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


# --- kustomization ---------------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_nothing_else() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "a resource is listed twice"
    for entry in resources:
        assert (K8S_DIR / entry).is_file(), f"kustomization lists missing file {entry}"
    assert set(resources) == {p.name for p in _manifest_files()}


def test_kustomization_sets_namespace_and_image() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == NAMESPACE
    assert IMAGE in [entry["name"] for entry in kustomization["images"]]


# --- every document --------------------------------------------------------------------


def test_manifests_found() -> None:
    kinds = {doc["kind"] for _, doc in DOCUMENTS}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds
    assert "KafkaTopic" in kinds


@pytest.mark.parametrize("item", DOCUMENTS, ids=_doc_id)
def test_document_is_named_and_namespaced_by_kustomize(item: tuple[str, dict[str, Any]]) -> None:
    _, doc = item
    assert doc.get("apiVersion") and doc.get("kind")
    name = doc["metadata"]["name"]
    assert DNS_SUBDOMAIN.match(name) and len(name) <= 253, f"invalid name {name!r}"
    # Namespaces come from kustomization.yaml; a hard-coded other one would escape it.
    assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE


@pytest.mark.parametrize(
    "item",
    [item for item in DOCUMENTS if (item[1]["apiVersion"], item[1]["kind"]) not in CUSTOM_KINDS],
    ids=_doc_id,
)
def test_core_resource_matches_kubernetes_schema(item: tuple[str, dict[str, Any]]) -> None:
    filename, doc = item
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{_doc_id(item)} does not validate at {path}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{filename}: {exc.message} (a custom resource must be in CUSTOM_KINDS)")


def test_names_are_unique_per_kind() -> None:
    seen: set[tuple[str, str]] = set()
    for _, doc in DOCUMENTS:
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)


# --- Strimzi KafkaTopic ----------------------------------------------------------------


def _kafka_topics() -> list[dict[str, Any]]:
    return _of_kind("KafkaTopic")


def _topic_name(doc: dict[str, Any]) -> str:
    return doc["spec"].get("topicName", doc["metadata"]["name"])


def test_custom_resources_are_only_known_kinds() -> None:
    for filename, doc in DOCUMENTS:
        group = doc["apiVersion"].rpartition("/")[0]
        if "." in group and not group.endswith(".k8s.io"):
            assert (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS, _doc_id((filename, doc))


@pytest.mark.parametrize("doc", _kafka_topics(), ids=lambda d: d["metadata"]["name"])
def test_kafka_topic_structure(doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == STRIMZI_API
    assert doc["kind"] == "KafkaTopic"
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}
    assert doc["metadata"]["labels"][STRIMZI_CLUSTER_LABEL]
    spec = doc["spec"]
    assert set(spec) <= KAFKA_TOPIC_SPEC_KEYS, (
        f"unknown spec keys {set(spec) - KAFKA_TOPIC_SPEC_KEYS}"
    )
    for key in ("partitions", "replicas"):
        assert type(spec[key]) is int, f"spec.{key} must be an integer"
    assert spec["partitions"] == PARTITIONS
    assert spec["replicas"] == TOPIC_REPLICAS
    config = spec["config"]
    assert isinstance(config, dict)
    for key, value in config.items():
        assert isinstance(value, str | int | float | bool), f"config {key} is not a scalar"
    # Messages are keyed by tenant id: compaction would keep one event per tenant.
    assert "compact" not in str(config.get("cleanup.policy", "delete"))
    retention = config["retention.ms"]
    assert type(retention) is int and retention > 0
    min_isr = config.get("min.insync.replicas", 1)
    assert 1 <= min_isr < spec["replicas"], "min.insync.replicas must leave room for a failure"


def test_kafka_topics_are_exactly_the_service_topics() -> None:
    names = [_topic_name(doc) for doc in _kafka_topics()]
    assert len(names) == len(set(names)), "a topic is declared twice"
    assert set(names) == set(topics.ALL)
    assert len(names) == len(topics.ALL)


def test_every_topic_expires_as_shared_topics_says() -> None:
    """Finite retention everywhere (docs/data-lifecycle.md), the same as local brokers get."""
    retention = {_topic_name(d): d["spec"]["config"]["retention.ms"] for d in _kafka_topics()}
    assert retention == topics.RETENTION_MS


def test_kafka_topics_belong_to_the_cluster_services_connect_to() -> None:
    clusters = {doc["metadata"]["labels"][STRIMZI_CLUSTER_LABEL] for doc in _kafka_topics()}
    assert len(clusters) == 1, f"topics spread over clusters {clusters}"
    (cluster,) = clusters
    bootstrap_hosts = [
        entry.split(":")[0] for entry in _config_map()["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    ]
    # Strimzi names the bootstrap Service "<cluster>-kafka-bootstrap".
    assert all(host.startswith(f"{cluster}-kafka-bootstrap") for host in bootstrap_hosts)


# --- configuration ----------------------------------------------------------------------


def test_shared_config_for_kubernetes() -> None:
    data = _config_map()
    assert all(isinstance(value, str) for value in data.values()), "ConfigMap values are strings"
    assert data["KAFKA_CREATE_TOPICS"] == "false", "Strimzi KafkaTopics create the topics"
    assert data["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert data["KAFKA_PARTITIONS"] == str(PARTITIONS)
    assert data["DATA_DIR"] == "/data"
    assert data["HTTP_HOST"] == "0.0.0.0"
    url = urlsplit(data["CONVERSATION_URL"])
    conversation = _one("Service", "conversation")
    assert url.hostname == conversation["metadata"]["name"]
    assert url.port in [p["port"] for p in conversation["spec"]["ports"]]


def test_secret_holds_placeholders_and_one_database_per_service() -> None:
    secret = _secret()
    assert all("REPLACE-ME" in value for value in secret.values()), "only placeholders in git"
    databases = set()
    for name in SERVICE_PORTS:
        url = urlsplit(secret[f"{name.upper()}_DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg"
        databases.add(url.path.lstrip("/"))
    assert databases == set(SERVICE_DATABASES.values())
    assert "OPERATOR_TOKEN" in secret


def test_env_references_resolve() -> None:
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in _of_kind("ConfigMap")}
    secrets = {
        d["metadata"]["name"]: {**d.get("data", {}), **d.get("stringData", {})}
        for d in _of_kind("Secret")
    }
    for deployment in _of_kind("Deployment"):
        container = _container(deployment)
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in config_maps
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets
        for item in container.get("env", []):
            ref = item.get("valueFrom", {})
            if "secretKeyRef" in ref:
                assert ref["secretKeyRef"]["key"] in secrets[ref["secretKeyRef"]["name"]]
            if "configMapKeyRef" in ref:
                assert ref["configMapKeyRef"]["key"] in config_maps[ref["configMapKeyRef"]["name"]]


# --- Deployments and Services -------------------------------------------------------------


def test_one_deployment_and_service_per_service() -> None:
    assert {d["metadata"]["name"] for d in _of_kind("Deployment")} == set(DEPLOYED_PORTS)
    assert {s["metadata"]["name"] for s in _of_kind("Service")} == set(DEPLOYED_PORTS)
    for name in DEPLOYED_PORTS:
        kinds = {
            doc["kind"]
            for filename, doc in DOCUMENTS
            if filename in {f"{name}.yaml", f"{name}.yml"}
        }
        assert kinds == {"Deployment", "Service"}, f"{name}.yaml should hold both"


@pytest.mark.parametrize("name", sorted(SERVICE_PORTS))
def test_deployment_runs_the_service_on_its_port(name: str) -> None:
    container = _container(_one("Deployment", name))
    assert container["image"] == IMAGE, "kustomization.yaml images: rewrites this name"
    assert container["command"] == ["python", "-m", f"services.{name}"]
    ports = [p["containerPort"] for p in container["ports"]]
    assert ports == [SERVICE_PORTS[name]]
    env = _env(container)
    assert env["HTTP_PORT"]["value"] == str(SERVICE_PORTS[name])
    secret_ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert secret_ref["key"] == f"{name.upper()}_DATABASE_URL"
    if name == "conversation":
        assert "secretKeyRef" in env["OPERATOR_TOKEN"]["valueFrom"]


@pytest.mark.parametrize("name", sorted(DEPLOYED_PORTS))
def test_probes_hit_health_and_ready_on_the_container_port(name: str) -> None:
    container = _container(_one("Deployment", name))
    port = DEPLOYED_PORTS[name]
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert liveness["path"] == LIVENESS_PATH
    assert readiness["path"] == READINESS_PATH
    assert _resolve_port(container, liveness["port"]) == port
    assert _resolve_port(container, readiness["port"]) == port
    if "startupProbe" in container:
        startup = container["startupProbe"]["httpGet"]
        assert startup["path"] == LIVENESS_PATH
        assert _resolve_port(container, startup["port"]) == port


@pytest.mark.parametrize("name", sorted(DEPLOYED_PORTS))
def test_service_targets_the_container_port(name: str) -> None:
    deployment = _one("Deployment", name)
    service = _one("Service", name)
    container = _container(deployment)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector and selector.items() <= pod_labels.items(), "Service selects no pod"
    match_labels = deployment["spec"]["selector"]["matchLabels"]
    assert match_labels.items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == DEPLOYED_PORTS[name]
    assert _resolve_port(container, port.get("targetPort", port["port"])) == DEPLOYED_PORTS[name]


@pytest.mark.parametrize("name", sorted(DEPLOYED_PORTS))
def test_pod_is_locked_down(name: str) -> None:
    pod = _one("Deployment", name)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30
    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == RUN_AS_USER
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"

    container = _container(_one("Deployment", name))
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security.get("runAsUser", RUN_AS_USER) == RUN_AS_USER
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert not security["capabilities"].get("add")
    assert security["seccompProfile"]["type"] == "RuntimeDefault"

    # A read-only root needs writable scratch space for DATA_DIR and /tmp.
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path in ("/data", "/tmp"):
        assert mounts.get(path) in empty_dirs, f"{path} is not an emptyDir"

    resources = container["resources"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[bound]), f"{bound} must set cpu and memory"


def test_gateway_deployment_serves_the_portal() -> None:
    container = _container(_one("Deployment", "gateway"))
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "services.gateway"]
    assert [p["containerPort"] for p in container["ports"]] == [GATEWAY_PORT]
    env = _env(container)
    assert env["HTTP_PORT"]["value"] == str(GATEWAY_PORT)
    assert env["PORTAL_DIST"]["value"] == "/app/portal/dist"
    assert "DATABASE_URL" not in env


def test_ingress_routes_the_gateways_prefixes_to_the_services() -> None:
    (ingress,) = _of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    routes = {
        path["path"]: (path["backend"]["service"]["name"], path["backend"]["service"]["port"])
        for path in rule["http"]["paths"]
    }
    assert all(path["pathType"] == "Prefix" for path in rule["http"]["paths"])
    expected = {
        prefix: (service, {"number": DEPLOYED_PORTS[service]})
        for prefix, service in PREFIXES.items()
    }
    expected["/"] = ("gateway", {"number": GATEWAY_PORT})
    assert routes == expected
    assert (
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    )
    public = urlsplit(_config_map()["PUBLIC_BASE_URL"])
    assert public.hostname == rule["host"]


def test_autoscalers_for_conversation_and_routing() -> None:
    autoscalers = _of_kind("HorizontalPodAutoscaler")
    assert all(a["apiVersion"] == "autoscaling/v2" for a in autoscalers)
    targets = {a["spec"]["scaleTargetRef"]["name"]: a for a in autoscalers}
    assert set(targets) == AUTOSCALED
    for name, autoscaler in targets.items():
        ref = autoscaler["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        deployment = _one("Deployment", name)
        # A fixed replica count would fight the autoscaler on every apply.
        assert "replicas" not in deployment["spec"], f"{name}: replicas is the HPA's job"
        spec = autoscaler["spec"]
        assert 1 <= spec.get("minReplicas", 1) <= spec["maxReplicas"] <= PARTITIONS
        # Utilization targets are relative to the container's CPU request.
        assert "cpu" in _container(deployment)["resources"]["requests"]


def test_disruption_budgets_select_a_deployment() -> None:
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in _of_kind("Deployment")]
    for budget in _of_kind("PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), budget


# --- the probe paths exist in the services ---------------------------------------------


@pytest.mark.parametrize(("ready", "status"), [(True, 200), (False, 503)])
async def test_probe_paths_are_served_by_install_probes(ready: bool, status: int) -> None:
    async def check() -> bool:
        return ready

    app = FastAPI()
    install_probes(app, CollectorRegistry(), check)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        assert (await client.get(LIVENESS_PATH)).status_code == 200
        assert (await client.get(READINESS_PATH)).status_code == status
        assert (await client.get("/metrics")).status_code == 200


# --- docker-compose.yml -------------------------------------------------------------------


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def _short_ports(service: dict[str, Any]) -> Iterator[tuple[int, int]]:
    for entry in service.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        yield int(host.rpartition(":")[2]), int(container.split("/")[0])


def test_compose_has_the_stack() -> None:
    compose = _load_compose()
    services = compose["services"]
    assert set(DEPLOYED_PORTS) | {"kafka", "kafka-init", "postgres"} <= set(services)
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in (compose.get("volumes") or {}), f"{name}: undeclared {source}"
    assert {"kafka-data", "postgres-data"} <= set(compose["volumes"])


@pytest.mark.parametrize("name", sorted(SERVICE_PORTS))
def test_compose_service(name: str) -> None:
    service = _load_compose()["services"][name]
    port = SERVICE_PORTS[name]
    assert service["build"]["context"] == "."
    assert service["command"] == ["python", "-m", f"services.{name}"]
    env = _compose_env(service)
    assert env["HTTP_PORT"] == str(port)
    assert env["HTTP_HOST"] == "0.0.0.0"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert env["CONVERSATION_URL"] == f"http://conversation:{SERVICE_PORTS['conversation']}"
    database = urlsplit(env["DATABASE_URL"])
    assert (database.scheme, database.hostname) == ("postgresql+psycopg", "postgres")
    assert database.path == f"/{SERVICE_DATABASES[name]}"
    assert (port, port) in set(_short_ports(service))
    assert service["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    if name == "conversation":
        assert env["OPERATOR_TOKEN"]


@pytest.mark.parametrize("name", sorted(SERVICE_PORTS))
def test_compose_healthcheck_targets_ready(name: str) -> None:
    command = _healthcheck_command(_load_compose()["services"][name])
    urls = re.findall(r"https?://[^\s'\"]+", command)
    assert len(urls) == 1, command
    url = urlsplit(urls[0])
    # Readiness (broker and database reachable): dependants start once it really works.
    assert url.path == READINESS_PATH
    assert url.port == SERVICE_PORTS[name]
    assert "curl" not in command and "wget" not in command, "python:3.11-slim has neither"


def test_compose_kafka_is_a_kraft_node_reachable_as_kafka_9092() -> None:
    kafka = _load_compose()["services"]["kafka"]
    env = _compose_env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["CLUSTER_ID"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    # name -> host:port
    listeners = dict(entry.split("://", 1) for entry in env["KAFKA_LISTENERS"].split(","))
    protocol_map = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    protocols = dict(entry.split(":", 1) for entry in protocol_map)
    assert set(listeners) <= set(protocols), "every listener needs a security protocol"
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners
    voter_id, _, voter_address = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert voter_id == env["KAFKA_NODE_ID"]
    assert voter_address.split(":")[1] == listeners[controller].rpartition(":")[2]
    advertised_list = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    advertised = dict(entry.split("://", 1) for entry in advertised_list)
    assert controller not in advertised
    assert "kafka:9092" in advertised.values()
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert any(str(v).endswith(f":{env['KAFKA_LOG_DIRS']}") for v in kafka["volumes"])


def test_compose_kafka_init_creates_exactly_the_topics() -> None:
    init = _load_compose()["services"]["kafka-init"]
    parts = [init.get("entrypoint") or [], init.get("command") or []]
    script = " ".join(" ".join([p] if isinstance(p, str) else p) for p in parts)
    assert "/opt/kafka/bin/kafka-topics.sh" in script
    assert f"--partitions {PARTITIONS}" in script
    assert set(TOPIC_NAME_RE.findall(script)) == set(topics.ALL)
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_postgres_creates_the_service_databases() -> None:
    compose = _load_compose()
    postgres = compose["services"]["postgres"]
    assert str(postgres["image"]).startswith("postgres:15")
    mounts = [str(v).split(":") for v in postgres["volumes"]]
    init_mounts = [m for m in mounts if m[1].startswith("/docker-entrypoint-initdb.d")]
    assert len(init_mounts) == 1
    assert (ROOT / init_mounts[0][0]).resolve() == POSTGRES_INIT.resolve()
    created = set(re.findall(r"CREATE\s+DATABASE\s+(\w+)", POSTGRES_INIT.read_text(), re.I))
    assert created == set(SERVICE_DATABASES.values())
    assert "healthcheck" in postgres


# --- Dockerfile ---------------------------------------------------------------------------


def test_compose_gateway_is_the_one_public_origin() -> None:
    compose = _load_compose()
    gateway = compose["services"]["gateway"]
    assert gateway["command"] == ["python", "-m", "services.gateway"]
    assert (GATEWAY_PORT, GATEWAY_PORT) in set(_short_ports(gateway))
    env = _compose_env(gateway)
    for service in set(PREFIXES.values()):
        assert env[f"{service.upper()}_URL"] == f"http://{service}:{SERVICE_PORTS[service]}"
    conversation = _compose_env(compose["services"]["conversation"])
    assert conversation["PUBLIC_BASE_URL"].endswith(f":{GATEWAY_PORT}}}")
    assert f"{GATEWAY_PORT}{READINESS_PATH}" in _healthcheck_command(gateway)


def test_dockerfile_runs_non_root_on_slim_python() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line.strip() for line in text.splitlines() if line.strip()]
    assert any("python:3.11-slim" in line for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] == str(RUN_AS_USER)
    assert "pip install ." in text and "[test]" not in text
    assert instructions[-1] == 'CMD ["python", "-m", "services.conversation"]'


# --- compose: mail, demo seed, local ports, secrets from .env -------------------------------

ENV_EXAMPLE = ROOT / ".env.example"
GITIGNORE = ROOT / ".gitignore"
# ${NAME:?message}: compose refuses to start while NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"\$\{(\w+):\?[^}]*\}")
DEFAULTED_VARIABLE = re.compile(r"\$\{(\w+):?-[^}]*\}")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|KEY")


COMPOSE_SCHEMA = Path(__file__).parents[1] / "schemas" / "compose-spec.json"


def test_compose_file_matches_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    compose = _load_compose()
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors
    # The schema bites: a misspelt key of a service is refused.
    compose["services"]["mailpit"]["helthcheck"] = compose["services"]["mailpit"]["healthcheck"]
    assert list(validator.iter_errors(compose))


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in _load_compose()["services"].items():
        for entry in service.get("ports", []):
            assert str(entry).startswith("127.0.0.1:"), (
                f"{name} publishes {entry} on every interface"
            )


def test_compose_secrets_come_from_the_env_file_without_defaults() -> None:
    text = COMPOSE_FILE.read_text()
    required = set(REQUIRED_VARIABLE.findall(text))
    assert {"POSTGRES_PASSWORD", "OPERATOR_TOKEN", "CHANNEL_SECRETS_KEY"} <= required
    defaulted = set(DEFAULTED_VARIABLE.findall(text))
    assert not {n for n in defaulted if SECRET_NAME.search(n)}, "a secret has a default"
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert required <= set(example), "every required variable is in .env.example"
    assert all(not example[name] for name in required), ".env.example holds no secret"
    assert ".env" in GITIGNORE.read_text().splitlines()
    # Every service's database URL carries the password from .env, never a literal one.
    for name in SERVICE_PORTS:
        database = urlsplit(_compose_env(_load_compose()["services"][name])["DATABASE_URL"])
        assert database.password == "${POSTGRES_PASSWORD}"


def test_compose_mail_goes_to_the_mail_catcher() -> None:
    services = _load_compose()["services"]
    mailpit = services["mailpit"]
    assert str(mailpit["image"]).startswith("axllent/mailpit:")
    assert "healthcheck" in mailpit
    conversation = services["conversation"]
    env = _compose_env(conversation)
    # ${SMTP_HOST:-mailpit}: overridable, Mailpit by default; Mailpit's SMTP port is 1025.
    assert DEFAULTED_VARIABLE.sub(lambda m: m.group(0).split("-", 1)[1][:-1], env["SMTP_HOST"]) == (
        "mailpit"
    )
    assert env["SMTP_PORT"].endswith("1025}")
    assert conversation["depends_on"]["mailpit"]["condition"] == "service_healthy"


def test_compose_demo_seed_is_an_optional_one_shot() -> None:
    seed = _load_compose()["services"]["demo-seed"]
    assert seed["profiles"] == ["demo"], "docker compose up must not seed by default"
    assert seed["restart"] == "no"
    assert seed["command"] == ["python", "-m", "services.demo_seed"]
    assert seed["depends_on"]["conversation"]["condition"] == "service_healthy"
    env = _compose_env(seed)
    assert urlsplit(env["CONVERSATION_URL"]).hostname == "conversation"
    assert REQUIRED_VARIABLE.fullmatch(env["OPERATOR_TOKEN"])
    import services.demo_seed  # noqa: F401  (the module compose runs exists)


# --- kustomize: the base and its overlays, built ------------------------------------------

OVERLAYS_DIR = ROOT / "deploy" / "overlays"
SCHEMAS_DIR = ROOT / "deploy" / "schemas"
BUILDS = {"base": K8S_DIR, "dev": OVERLAYS_DIR / "dev", "prod": OVERLAYS_DIR / "prod"}


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    command = [kubectl, "kustomize", str(directory)] if kubectl else None
    if command is None and (kustomize := shutil.which("kustomize")):
        command = [kustomize, "build", str(directory)]
    assert command, "neither kubectl nor kustomize is installed"
    built = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@functools.cache
def _built(build: str) -> tuple[dict[str, Any], ...]:
    return tuple(_kustomize(BUILDS[build]))


def _built_of_kind(build: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _built(build) if doc["kind"] == kind]


def _strict(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields, as the API server's pruning would drop them
    silently (and kubernetes-validate's strict mode refuses them for core kinds)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@functools.cache
def _crd_validators() -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    validators = {}
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        crd = json.loads(path.read_text())
        schema = _strict(crd["openAPIV3Schema"])
        validators[(crd["apiVersion"], crd["kind"])] = jsonschema.Draft202012Validator(schema)
    return validators


def test_crd_schemas_cover_every_custom_kind() -> None:
    assert set(_crd_validators()) == CUSTOM_KINDS
    readme = (SCHEMAS_DIR / "README.md").read_text()
    for path in SCHEMAS_DIR.glob("*.json"):
        assert json.loads(path.read_text())["source"] in readme, f"{path.name}: source not named"


def test_crd_schema_refuses_a_wrong_field() -> None:
    """The schemas bite: a misspelt or mistyped field of a custom resource fails."""
    (topic, *_) = _built_of_kind("base", "KafkaTopic")
    validator = _crd_validators()[(STRIMZI_API, "KafkaTopic")]
    assert not list(validator.iter_errors(topic))
    misspelt = {**topic, "spec": {**topic["spec"], "partition": 6}}
    mistyped = {**topic, "spec": {**topic["spec"], "partitions": "six"}}
    assert list(validator.iter_errors(misspelt)) and list(validator.iter_errors(mistyped))


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_built_objects_match_their_schemas(build: str) -> None:
    failures = []
    for doc in _built(build):
        key = (doc["apiVersion"], doc["kind"])
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if key in CUSTOM_KINDS:
            for error in _crd_validators()[key].iter_errors(doc):
                failures.append(f"{name} at {'.'.join(map(str, error.path))}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{name} at {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            failures.append(f"{name}: {exc.message} (a custom resource needs a CRD schema)")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_built_objects_live_in_the_namespace(build: str) -> None:
    for doc in _built(build):
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_every_service_has_a_budget_and_a_monitor(build: str) -> None:
    deployments = {d["metadata"]["name"]: d for d in _built_of_kind(build, "Deployment")}
    assert set(deployments) == set(DEPLOYED_PORTS)
    services = {s["metadata"]["name"]: s for s in _built_of_kind(build, "Service")}
    budgets = _built_of_kind(build, "PodDisruptionBudget")
    monitors = _built_of_kind(build, "ServiceMonitor")
    for name, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        (budget,) = covering
        replicas = deployment["spec"].get("replicas")
        if replicas == 1:  # minAvailable 1 of 1 would block every node drain
            assert budget["spec"].get("maxUnavailable") == 1, name
        service_labels = services[name]["metadata"]["labels"]
        port_names = {p["name"] for p in services[name]["spec"]["ports"]}
        scraping = [
            m
            for m in monitors
            if m["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
        ]
        assert len(scraping) == 1, f"{name}: {len(scraping)} ServiceMonitors"
        (endpoint,) = scraping[0]["spec"]["endpoints"]
        assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_kafka_cluster_is_kraft_and_sized_for_its_topics(build: str) -> None:
    (kafka,) = _built_of_kind(build, "Kafka")
    cluster = kafka["metadata"]["name"]
    pools = _built_of_kind(build, "KafkaNodePool")
    assert pools and all(p["metadata"]["labels"][STRIMZI_CLUSTER_LABEL] == cluster for p in pools)
    roles = {role for pool in pools for role in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}, "KRaft: controllers and brokers, no ZooKeeper"
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    for key in ("offsets.topic.replication.factor", "default.replication.factor"):
        assert config[key] <= brokers, f"{key} needs more brokers than the pool has"
    for topic in _built_of_kind(build, "KafkaTopic"):
        assert topic["metadata"]["labels"][STRIMZI_CLUSTER_LABEL] == cluster
        spec = topic["spec"]
        assert spec["replicas"] <= brokers, spec["topicName"]
        min_isr = spec["config"].get("min.insync.replicas", 1)
        assert min_isr == 1 or min_isr < spec["replicas"], spec["topicName"]
    # The services' bootstrap address is a listener of this cluster.
    data = {k: v for c in _built_of_kind(build, "ConfigMap") for k, v in c.get("data", {}).items()}
    host, _, port = data["KAFKA_BOOTSTRAP_SERVERS"].partition(":")
    assert host == f"{cluster}-kafka-bootstrap"
    (listener,) = [
        item for item in kafka["spec"]["kafka"]["listeners"] if str(item["port"]) == port
    ]
    assert listener["tls"] is True and data["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert listener["authentication"]["type"] == data["KAFKA_SASL_MECHANISM"].lower()


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_every_service_connects_as_its_own_kafka_user(build: str) -> None:
    (kafka,) = _built_of_kind(build, "Kafka")
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    users = {u["metadata"]["name"]: u for u in _built_of_kind(build, "KafkaUser")}
    assert set(users) == set(SERVICE_PORTS) | {"operator"}  # operator: dead-letter replays
    for deployment in _built_of_kind(build, "Deployment"):
        name = deployment["metadata"]["name"]
        env = _env(_container(deployment))
        if name not in SERVICE_PORTS:  # the gateway speaks HTTP only: no Kafka credentials
            assert not any(key.startswith("KAFKA_") for key in env), name
            continue
        assert env["KAFKA_SASL_USERNAME"]["value"] == name
        # Strimzi's User Operator writes the password to a Secret named after the user.
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": name,
            "key": "password",
        }
        spec = users[name]["spec"]
        assert spec["authentication"]["type"] == "scram-sha-512"
        assert users[name]["metadata"]["labels"][STRIMZI_CLUSTER_LABEL] == kafka["metadata"]["name"]
        acls = spec["authorization"]["acls"]
        topic_names = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic"}
        assert topic_names <= set(topics.ALL), f"{name}: ACL on an unknown topic"
        writable = {
            a["resource"]["name"]
            for a in acls
            if a["resource"]["type"] == "topic" and "Write" in a["operations"]
        }
        assert topics.DEAD_LETTERS in writable, f"{name} cannot dead-letter"
        groups = [a for a in acls if a["resource"]["type"] == "group"]
        assert groups and all(g["resource"]["name"].startswith(name) for g in groups)


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_the_operator_user_can_list_and_replay_dead_letters(build: str) -> None:
    """python -m services.deadletters reads the dead-letter topic without a group and
    writes each message back to the topic it came from: any of ours."""
    (user,) = [u for u in _built_of_kind(build, "KafkaUser") if u["metadata"]["name"] == "operator"]
    acls = user["spec"]["authorization"]["acls"]
    topic_acls = {
        a["resource"]["name"]: a["operations"] for a in acls if a["resource"]["type"] == "topic"
    }
    assert set(topic_acls) == set(topics.ALL)
    assert "Read" in topic_acls[topics.DEAD_LETTERS]
    assert all("Write" in ops for name, ops in topic_acls.items() if name != topics.DEAD_LETTERS)
    assert not [a for a in acls if a["resource"]["type"] == "group"]


def test_overlays_change_what_they_say() -> None:
    def topic_replicas(build: str) -> set[int]:
        return {t["spec"]["replicas"] for t in _built_of_kind(build, "KafkaTopic")}

    assert topic_replicas("base") == topic_replicas("prod") == {TOPIC_REPLICAS}
    assert topic_replicas("dev") == {1}
    images = {
        build: {c["image"] for d in _built_of_kind(build, "Deployment") for c in _pods(d)}
        for build in BUILDS
    }
    assert images["base"] == {"interact:0.1.0"}
    assert images["dev"] == {"interact:dev"}
    assert images["prod"] == {"registry.example.com/interact:0.1.0"}
    prod_hpa = {h["spec"]["minReplicas"] for h in _built_of_kind("prod", "HorizontalPodAutoscaler")}
    assert prod_hpa == {3}


def _pods(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]


# --- compose and k8s name the settings the code reads --------------------------------------

SETTINGS_CLASSES = {
    "conversation": ("services.conversation.settings", "ConversationSettings"),
    "ingest": ("services.ingest.__main__", "IngestSettings"),
    "routing": ("services.routing.__main__", "RoutingSettings"),
    "stats": ("services.stats.settings", "StatsSettings"),
    "billing": ("services.billing.settings", "BillingSettings"),
    "sla": ("services.sla.settings", "SlaSettings"),
    "gateway": ("services.gateway.settings", "GatewaySettings"),
}


def _setting_names(service: str) -> set[str]:
    module, cls = SETTINGS_CLASSES[service]
    settings = getattr(importlib.import_module(module), cls)
    names = {name.upper() for name in settings.model_fields}
    if service == "ingest":
        from services.ingest.settings import WebchatSettings

        prefix = WebchatSettings.model_config.get("env_prefix", "")
        names |= {f"{prefix}{name}".upper() for name in WebchatSettings.model_fields}
    if service in ("conversation", "ingest"):  # both keep and serve files (shared.blobs)
        from shared.blobs import BlobSettings

        names |= {name.upper() for name in BlobSettings.model_fields}
    return names


def _guarded_secrets(service: str) -> set[str]:
    """Settings whose code default is a development placeholder: each deployment sets them."""
    module, cls = SETTINGS_CLASSES[service]
    settings = getattr(importlib.import_module(module), cls)
    return {
        name.upper()
        for name, field in settings.model_fields.items()
        if field.default is not None and type(field.default).__name__ == "SecretStr"
    }


def test_compose_names_only_settings_the_code_reads() -> None:
    compose = _load_compose()
    shared_env = set(compose["x-interact-env"])
    every = set().union(*(_setting_names(s) for s in SERVICE_PORTS))
    assert shared_env <= every, f"unknown settings {shared_env - every}"
    for name in SERVICE_PORTS:
        env = set(_compose_env(compose["services"][name]))
        own = env - shared_env
        assert own <= _setting_names(name), f"{name}: unknown settings {own - _setting_names(name)}"
        assert _guarded_secrets(name) <= env, f"{name}: secrets left at their defaults"


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_k8s_names_only_settings_the_code_reads(build: str) -> None:
    config = {k for c in _built_of_kind(build, "ConfigMap") for k in c.get("data", {})}
    config -= {"kafka-metrics-config.yml"}  # the Kafka brokers' JMX rules, not a setting
    every = set().union(*(_setting_names(s) for s in SERVICE_PORTS))
    assert config <= every, f"unknown settings in the ConfigMap: {config - every}"
    for deployment in _built_of_kind(build, "Deployment"):
        name = deployment["metadata"]["name"]
        container = _container(deployment)
        own = set(_env(container))
        assert own <= _setting_names(name), f"{name}: unknown settings {own - _setting_names(name)}"
        from_config = {
            key
            for c in _built_of_kind(build, "ConfigMap")
            for source in container.get("envFrom", [])
            if source.get("configMapRef", {}).get("name") == c["metadata"]["name"]
            for key in c.get("data", {})
        }
        assert _guarded_secrets(name) <= own | from_config, f"{name}: secrets at their defaults"


# --- backups (CronJob) and schema migrations (Job) -------------------------------------------


def _pod_of_job(job: dict[str, Any]) -> dict[str, Any]:
    spec = job["spec"]["jobTemplate"]["spec"] if job["kind"] == "CronJob" else job["spec"]
    return spec["template"]["spec"]


@pytest.mark.parametrize(("kind", "name"), [("CronJob", "backup"), ("Job", "migrate")])
def test_operator_jobs_reach_every_database_as_locked_down_pods(kind: str, name: str) -> None:
    from services.backup.settings import BackupSettings

    pod = _pod_of_job(_one(kind, name))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == RUN_AS_USER
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    env = _env(container)
    known = {field.upper() for field in BackupSettings.model_fields}
    assert set(env) <= known, f"{name}: unknown settings {set(env) - known}"
    secret = _secret()
    for service in SERVICE_PORTS:
        ref = env[f"{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "interact-secrets", "key": f"{service.upper()}_DATABASE_URL"}
        assert ref["key"] in secret
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_backup_runs_weekly_one_at_a_time_onto_its_volume() -> None:
    cron = _one("CronJob", "backup")
    _minute, _hour, day, month, weekday = cron["spec"]["schedule"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit(), "weekly"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = _pod_of_job(cron)
    (container,) = pod["containers"]
    assert container["command"][:4] == ["python", "-m", "services.backup", "backup"]
    backup_dir = _env(container)["BACKUP_DIR"]["value"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts[backup_dir]]["persistentVolumeClaim"]["claimName"]
    assert _one("PersistentVolumeClaim", claim)
    assert int(_env(container)["BACKUP_RETENTION_DAYS"]["value"]) <= 30  # SPEC §3.4


def test_the_erasure_log_is_a_folder_on_a_volume_every_conversation_replica_shares() -> None:
    """docs/data-lifecycle.md: the log outlives pods and restores (not DATA_DIR's emptyDir)."""
    deployment = _one("Deployment", "conversation")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    folder = _env(container)["ERASURE_LOG"]["value"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in pod["volumes"]}[mounts[folder]]
    claim = _one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # N replicas append to it
    compose = _load_compose()["services"]["conversation"]
    assert f"erasure-log:{_compose_env(compose)['ERASURE_LOG']}" in compose["volumes"]


def test_migrate_job_upgrades_every_database() -> None:
    (container,) = _pod_of_job(_one("Job", "migrate"))["containers"]
    assert container["command"] == ["python", "-m", "services.migrate", "upgrade"]
    assert _one("Job", "migrate")["spec"]["ttlSecondsAfterFinished"] > 0


def test_compose_backs_up_every_database_to_a_volume() -> None:
    from services.backup.settings import BackupSettings
    from shared.blobs import BlobSettings

    backup = _load_compose()["services"]["backup"]
    assert "services.backup backup --due" in " ".join(backup["command"])
    env = _compose_env(backup)
    # Its own settings, and the blob store's (the attachments are in every backup).
    known = {*BackupSettings.model_fields, *BlobSettings.model_fields}
    assert set(env) <= {field.upper() for field in known}
    assert f"blobs:{env['BLOB_DIR']}" in backup["volumes"]
    for service, database in SERVICE_DATABASES.items():
        assert urlsplit(env[f"{service.upper()}_DATABASE_URL"]).path == f"/{database}"
    assert f"backups:{env['BACKUP_DIR']}" in backup["volumes"]
