"""Deployment files (image, compose, Kubernetes) checked by parsing, since no engine runs here.

Structure is always checked by hand (kind, names, selectors, probes, ports); when the tools are
installed the same files also go through `kubectl kustomize`, the Kubernetes OpenAPI schemas
(`kubernetes-validate`), the Compose specification schema (`check-jsonschema`'s copy) and
`docker compose config`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.events.catalogue import TOPICS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
GUNICORN_CONF = "deploy/gunicorn.conf.py"

PORTS = {"contracts": 8001, "appraisal": 8002, "notifications": 8003}
IMAGE = "tenure"
IMAGE_UID = 10001
PARTITIONS = 3

# The processes every service runs (besides its API), and the extra ones some services have.
COMMON_COMMANDS = {"migrate", "relay", "consume"}
EXTRA_COMMANDS = {"contracts": {"expire"}, "notifications": {"deliver"},
                  "appraisal": {"remind", "close-appeal-windows", "score-runs"}}
WORKER_COMPONENTS = {"relay": "relay", "consumer": "consume", "deliver": "deliver",
                     "score-runs": "score-runs"}

Doc = dict[str, Any]


# -- loading ----------------------------------------------------------------------------------


def _k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.y*ml") if p.name != "kustomization.yaml")


@cache
def _k8s_docs() -> tuple[tuple[str, Doc], ...]:
    docs: list[tuple[str, Doc]] = []
    for path in _k8s_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return tuple(docs)


def _objects(kind: str) -> list[Doc]:
    return [doc for _, doc in _k8s_docs() if doc.get("kind") == kind]


def _named(kind: str, name: str) -> Doc:
    found = [doc for doc in _objects(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _pod_spec(doc: Doc) -> Doc | None:
    kind = doc.get("kind")
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return doc["spec"]["template"]["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def _pod_labels(doc: Doc) -> dict[str, str]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return doc["spec"]["template"]["metadata"]["labels"]


def _workloads() -> list[Doc]:
    return [doc for _, doc in _k8s_docs() if _pod_spec(doc) is not None]


def _containers(pod: Doc) -> list[Doc]:
    return list(pod.get("initContainers", [])) + list(pod["containers"])


def _tenure_workloads() -> list[Doc]:
    """Workloads of the three services, running the Tenure image (the topics Job runs
    Kafka's own image; the portal, with no database or broker, is checked on its own)."""
    return [doc for doc in _workloads()
            if any(c["image"] == IMAGE for c in _containers(_pod_spec(doc) or {}))
            and doc["metadata"]["labels"].get("app.kubernetes.io/name") != "portal"]


def _portal() -> Doc:
    (portal,) = [doc for doc in _workloads()
                 if doc["metadata"]["labels"].get("app.kubernetes.io/name") == "portal"]
    return portal


def _service_of(doc: Doc) -> str:
    service = doc["metadata"]["labels"]["app.kubernetes.io/name"]
    assert service in PORTS, f"{doc['metadata']['name']}: unknown service {service}"
    return service


def _component(doc: Doc) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def _api_deployment(service: str) -> Doc:
    return _named("Deployment", f"{service}-api")


def _main_container(doc: Doc) -> Doc:
    containers = (_pod_spec(doc) or {})["containers"]
    assert len(containers) == 1, f"{doc['metadata']['name']}: expected one container"
    return containers[0]


def _resolve_port(container: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"port name {port!r} is not declared by container {container['name']}"
    return named[port]


def _env_names(container: Doc) -> list[str]:
    return [entry["name"] for entry in container.get("env", [])]


def _env_value(container: Doc, name: str) -> str | None:
    for entry in container.get("env", []):
        if entry["name"] == name:
            return entry.get("value")
    return None


@cache
def _compose() -> Doc:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _compose_services() -> dict[str, Doc]:
    return _compose()["services"]


def _compose_tenure_services() -> dict[str, Doc]:
    return {name: svc for name, svc in _compose_services().items()
            if name.split("-")[0] in PORTS}


def _command(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _flask_command(argv: list[str]) -> tuple[str, str]:
    """(service, command) of `flask --app services.SERVICE:create_app COMMAND`."""
    assert len(argv) == 4 and argv[:2] == ["flask", "--app"], f"not a flask command: {argv}"
    match = re.fullmatch(r"services\.(\w+):create_app", argv[2])
    assert match, f"--app must be services.<service>:create_app, got {argv[2]}"
    return match.group(1), argv[3]


def _gunicorn_service(argv: list[str]) -> str:
    assert argv[:3] == ["gunicorn", "-c", GUNICORN_CONF], f"not the gunicorn API: {argv}"
    match = re.fullmatch(r"services\.(\w+)\.wsgi:app", argv[3])
    assert match and len(argv) == 4, f"API must be services.<service>.wsgi:app, got {argv}"
    return match.group(1)


def _allowed_commands(service: str) -> set[str]:
    return COMMON_COMMANDS | EXTRA_COMMANDS.get(service, set())


@cache
def _env_vocabulary() -> frozenset[str]:
    """Every environment variable the code reads, taken from the code itself."""
    names: set[str] = set()
    config = (REPO / "shared" / "config.py").read_text()
    for name in re.findall(r"_env\(service,\s*\"([A-Z0-9_]+)\"", config):
        names.add(name)
        names.update(f"{service.upper()}_{name}" for service in PORTS)
    environ_get = r"environ\.get\(\s*[\"']([A-Z0-9_]+)[\"']"
    names.update(re.findall(environ_get, config))
    # The identity provider's settings are read by name from a table in OidcSettings.from_env.
    for name in set(re.findall(r"\"(OIDC_[A-Z0-9_]+)\"", config)):
        names.update({name, *(f"{service.upper()}_{name}" for service in PORTS)})
    names.update(re.findall(environ_get, (DEPLOY / "gunicorn.conf.py").read_text()))
    # The portal reads its own settings; the notifications service reads PORTAL_URL & co.
    portal = REPO / "services" / "portal" / "config.py"
    names.update(re.findall(environ_get, portal.read_text()))
    names.update(f"PORTAL_{service.upper()}_URL" for service in PORTS)
    notifications = (REPO / "services" / "notifications" / "config.py").read_text()
    for name in re.findall(r"_get\(env,\s*\"([A-Z0-9_]+)\"", notifications):
        names.update({name, f"NOTIFICATIONS_{name}"})
    email = REPO / "services" / "notifications" / "channels" / "email.py"
    if email.exists():
        for name in set(re.findall(r"\bSMTP_([A-Z_]+[A-Z])\b", email.read_text())):
            names.update({f"SMTP_{name}", f"NOTIFICATIONS_SMTP_{name}"})
    return frozenset(names)


def _database_url_names(service: str) -> set[str]:
    return {"DATABASE_URL", f"{service.upper()}_DATABASE_URL"}


def _all_database_url_names() -> set[str]:
    return set().union(*(_database_url_names(s) for s in PORTS))


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    out = []
    for line in joined:
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


# -- Kubernetes: structure --------------------------------------------------------------------


def test_every_kubernetes_document_has_api_version_kind_and_name() -> None:
    assert _k8s_docs(), "no manifests found under deploy/k8s"
    for filename, doc in _k8s_docs():
        assert isinstance(doc, dict), f"{filename}: a document is not a mapping"
        assert doc.get("apiVersion") and doc.get("kind"), f"{filename}: apiVersion/kind missing"
        assert doc.get("metadata", {}).get("name"), f"{filename}: {doc['kind']} has no name"


def test_object_names_are_unique_per_kind() -> None:
    seen = [(doc["kind"], doc["metadata"]["name"]) for _, doc in _k8s_docs()]
    assert len(seen) == len(set(seen)), f"duplicate objects: {seen}"


def test_everything_lives_in_the_tenure_namespace() -> None:
    namespace = _named("Namespace", "tenure")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "tenure"
    for _, doc in _k8s_docs():
        assert doc["metadata"].get("namespace", "tenure") == "tenure"


def test_kustomization_lists_every_manifest_file_and_only_those() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == {p.name for p in _k8s_files()}


def test_kustomization_maps_the_tenure_image_to_a_tagged_reference() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    images = {entry["name"]: entry for entry in kustomization["images"]}
    assert IMAGE in images
    assert images[IMAGE].get("newTag") or images[IMAGE].get("digest")
    assert images[IMAGE]["newTag"] != "latest"


def test_workload_selectors_match_their_pod_labels() -> None:
    for doc in _workloads():
        if doc["kind"] in {"Job", "CronJob"}:
            continue
        selector = doc["spec"]["selector"]["matchLabels"]
        labels = _pod_labels(doc)
        assert selector, f"{doc['metadata']['name']}: empty selector"
        assert selector.items() <= labels.items(), f"{doc['metadata']['name']}: selector " \
            f"{selector} does not match template labels {labels}"


def test_no_two_deployments_select_the_same_pods() -> None:
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items()))
                 for d in _objects("Deployment")]
    assert len(selectors) == len(set(selectors))


def test_every_tenure_container_runs_the_tenure_image() -> None:
    for doc in _objects("Deployment") + _objects("CronJob"):
        for container in _containers(_pod_spec(doc) or {}):
            assert container["image"] == IMAGE, (
                f"{doc['metadata']['name']}/{container['name']} runs {container['image']}; "
                f"kustomization.yaml maps `{IMAGE}` to the released image"
            )


def test_every_pod_runs_as_non_root_without_privileges_on_a_read_only_root() -> None:
    for doc in _workloads():
        name = doc["metadata"]["name"]
        pod = _pod_spec(doc) or {}
        pod_security = pod.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, f"{name}: runAsNonRoot not set"
        assert pod_security.get("runAsUser", 0) != 0, f"{name}: runs as uid 0"
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, f"{name}: mounts an API token"
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in _containers(pod):
            security = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: read-only root needs a writable /tmp"
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp is not an emptyDir"


def test_pods_run_as_the_uid_the_image_declares() -> None:
    user = [args for ins, args in _final_stage() if ins == "USER"][-1]
    image_uid = int(user.split(":")[0])
    for doc in _tenure_workloads():
        pod = _pod_spec(doc) or {}
        assert pod["securityContext"]["runAsUser"] == image_uid, doc["metadata"]["name"]


def test_service_links_are_off_so_no_service_shadows_a_port_variable() -> None:
    # A Service named "contracts" would inject CONTRACTS_PORT=tcp://10.0.0.1:8001, and
    # shared/config.py reads CONTRACTS_PORT before PORT: the service would not start.
    for doc in _workloads():
        assert (_pod_spec(doc) or {}).get("enableServiceLinks") is False, doc["metadata"]["name"]


def test_every_container_has_cpu_and_memory_requests_and_limits() -> None:
    for doc in _workloads():
        for container in _containers(_pod_spec(doc) or {}):
            resources = container.get("resources", {})
            where = f"{doc['metadata']['name']}/{container['name']}"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"


# -- Kubernetes: the APIs ---------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(PORTS))
def test_api_deployment_runs_gunicorn_on_its_port_with_two_replicas(service: str) -> None:
    deployment = _api_deployment(service)
    container = _main_container(deployment)
    assert _gunicorn_service(_command(container["command"])) == service
    ports = [p["containerPort"] for p in container["ports"]]
    assert ports == [PORTS[service]]
    # gunicorn binds $PORT (deploy/gunicorn.conf.py): it must be the declared port.
    assert _env_value(container, "PORT") == str(PORTS[service])
    assert deployment["spec"]["replicas"] == 2


@pytest.mark.parametrize("service", sorted(PORTS))
def test_api_liveness_asks_healthz_and_readiness_asks_readyz_on_the_container_port(
    service: str,
) -> None:
    container = _main_container(_api_deployment(service))
    expected = {"livenessProbe": "/healthz", "startupProbe": "/healthz",
                "readinessProbe": "/readyz"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{service}: {probe} asks {get['path']}"
        assert _resolve_port(container, get["port"]) == PORTS[service], f"{service}: {probe}"


@pytest.mark.parametrize("service", sorted(PORTS))
def test_api_pods_are_annotated_for_prometheus_on_their_port(service: str) -> None:
    deployment = _api_deployment(service)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(PORTS[service])
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("service", sorted(PORTS))
def test_api_has_a_cluster_ip_service_selecting_its_pods_on_its_port(service: str) -> None:
    deployment = _api_deployment(service)
    container = _main_container(deployment)
    services = [s for s in _objects("Service")
                if s["spec"]["selector"].items() <= _pod_labels(deployment).items()]
    assert len(services) == 1, f"{service}: expected one Service, found {len(services)}"
    spec = services[0]["spec"]
    assert spec.get("type", "ClusterIP") == "ClusterIP"
    # The selector must not also catch the relay or consumer pods.
    for other in _objects("Deployment"):
        if other is not deployment:
            assert not spec["selector"].items() <= _pod_labels(other).items(), other["metadata"]
    (port,) = spec["ports"]
    assert _resolve_port(container, port["targetPort"]) == PORTS[service]


@pytest.mark.parametrize("service", sorted(PORTS))
def test_api_autoscales_on_cpu_at_seventy_percent_between_two_and_ten(service: str) -> None:
    deployment = _api_deployment(service)
    hpas = [h for h in _objects("HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]]
    assert len(hpas) == 1
    hpa = hpas[0]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


@pytest.mark.parametrize("service", sorted(PORTS))
def test_api_has_a_disruption_budget_over_its_pods(service: str) -> None:
    labels = _pod_labels(_api_deployment(service))
    budgets = [p for p in _objects("PodDisruptionBudget")
               if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
    assert len(budgets) == 1
    assert budgets[0]["spec"].get("minAvailable", 0) >= 1 or "maxUnavailable" in budgets[0]["spec"]


@pytest.mark.parametrize("service", sorted(PORTS))
def test_schema_is_migrated_by_an_init_container_before_the_api_starts(service: str) -> None:
    pod = _pod_spec(_api_deployment(service)) or {}
    inits = pod.get("initContainers", [])
    assert inits, f"{service}-api has no initContainer"
    assert _flask_command(_command(inits[0]["command"])) == (service, "migrate")
    # The migration must run against the very database the API will use.
    api = pod["containers"][0]
    db_env = _database_url_names(service)
    assert [e for e in inits[0]["env"] if e["name"] in db_env] == \
        [e for e in api["env"] if e["name"] in db_env]


def test_portal_serves_its_pages_on_8004_with_a_shared_session_key_and_secure_cookies(
        ) -> None:
    portal = _portal()
    (container,) = _containers(_pod_spec(portal) or {})
    assert _command(container["command"])[-1] == "services.portal.wsgi:app"
    assert container["ports"][0]["containerPort"] == 8004
    env = {e["name"]: e for e in container["env"]}
    assert env["PORTAL_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "tenure-secrets"
    assert env["PORTAL_SECURE_COOKIES"]["value"] == "true"
    for service, port in PORTS.items():
        assert env[f"PORTAL_{service.upper()}_URL"]["value"] == f"http://{service}:{port}"
    assert not set(env) & _all_database_url_names(), "the portal keeps no data of its own"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert (_pod_spec(portal) or {})["securityContext"]["runAsNonRoot"] is True
    (configmap,) = _objects("ConfigMap")
    assert configmap["data"]["PORTAL_OIDC_CLIENT_ID"]
    assert set(env) | set(configmap["data"]) <= _env_vocabulary()
    services = {s["metadata"]["name"]: s for s in _objects("Service")}
    assert services["portal"]["spec"]["ports"][0]["port"] == 8004


# -- Kubernetes: workers ----------------------------------------------------------------------


def test_every_flask_command_is_one_its_service_runs() -> None:
    for doc in _tenure_workloads():
        for container in _containers(_pod_spec(doc) or {}):
            argv = _command(container["command"])
            if argv[0] == "gunicorn":
                assert _gunicorn_service(argv) == _service_of(doc)
                continue
            service, command = _flask_command(argv)
            assert service == _service_of(doc), doc["metadata"]["name"]
            assert command in _allowed_commands(service), f"{service} has no {command!r}"


def test_commands_beyond_the_common_set_are_registered_by_their_service() -> None:
    for service, commands in EXTRA_COMMANDS.items():
        cli = REPO / "services" / service / "cli.py"
        if service == "notifications" and not cli.exists():
            pytest.skip("services/notifications/cli.py not written yet")
        for command in commands:
            assert f'cli.command("{command}")' in cli.read_text(), f"{service}: {command}"


@pytest.mark.parametrize("service", sorted(PORTS))
def test_each_service_runs_one_relay_and_up_to_partition_count_consumers(service: str) -> None:
    relay = _named("Deployment", f"{service}-relay")
    assert _flask_command(_command(_main_container(relay)["command"])) == (service, "relay")
    # One publisher per outbox; an extra replica would only wait on the advisory lock.
    assert relay["spec"]["replicas"] == 1
    consumer = _named("Deployment", f"{service}-consumer")
    assert _flask_command(_command(_main_container(consumer)["command"])) == (service, "consume")
    # Beyond the partition count a consumer group member gets no partition and idles.
    assert 1 <= consumer["spec"]["replicas"] <= PARTITIONS


def test_notifications_runs_a_delivery_worker() -> None:
    deliver = _named("Deployment", "notifications-deliver")
    argv = _command(_main_container(deliver)["command"])
    assert _flask_command(argv) == ("notifications", "deliver")
    assert deliver["spec"]["replicas"] >= 1


def test_worker_components_run_the_command_they_are_named_for() -> None:
    for doc in _objects("Deployment"):
        component = _component(doc)
        if component in ("api", "web"):  # gunicorn: the services' APIs and the portal
            continue
        _, command = _flask_command(_command(_main_container(doc)["command"]))
        assert WORKER_COMPONENTS[component] == command, doc["metadata"]["name"]


def test_contract_expiry_runs_daily_and_never_twice_at_once() -> None:
    cron = _named("CronJob", "contracts-expire")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(cron["spec"]["schedule"].split()) == 5
    argv = _command(_main_container(cron)["command"])
    assert _flask_command(argv) == ("contracts", "expire")


def test_appeal_windows_close_daily_and_never_twice_at_once() -> None:
    cron = _named("CronJob", "appraisal-close-appeal-windows")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    minute, hour, day, month, weekday = cron["spec"]["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*") and minute.isdigit() and hour.isdigit()
    argv = _command(_main_container(cron)["command"])
    assert _flask_command(argv) == ("appraisal", "close-appeal-windows")


def test_topics_job_creates_every_topic_the_code_uses() -> None:
    job = _named("Job", "kafka-topics")
    script = " ".join(_main_container(job)["args"])
    assert set(TOPICS) <= set(re.findall(r"hr\.[a-z]+", script))
    assert "--if-not-exists" in script
    assert _env_value(_main_container(job), "TOPIC_PARTITIONS") == str(PARTITIONS)


# -- Kubernetes: configuration ----------------------------------------------------------------


def _k8s_env_names_used() -> dict[str, set[str]]:
    """Per workload, the env names its Tenure containers see (own env + ConfigMaps)."""
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in _objects("ConfigMap")}
    used: dict[str, set[str]] = {}
    for doc in _tenure_workloads():
        names: set[str] = set()
        for container in _containers(_pod_spec(doc) or {}):
            names.update(_env_names(container))
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef")
                assert ref, f"{doc['metadata']['name']}: only ConfigMaps are loaded whole"
                names.update(configmaps[ref["name"]])
        used[doc["metadata"]["name"]] = names
    return used


def test_kubernetes_env_names_are_ones_the_code_reads() -> None:
    vocabulary = _env_vocabulary()
    for workload, names in _k8s_env_names_used().items():
        assert names <= vocabulary, f"{workload}: unknown {sorted(names - vocabulary)}"
        assert {"KAFKA_BOOTSTRAP_SERVERS", "JWT_SECRET"} <= names, workload


def test_each_pod_sees_only_its_own_services_database_url() -> None:
    for doc in _tenure_workloads():
        service = _service_of(doc)
        for container in _containers(_pod_spec(doc) or {}):
            urls = set(_env_names(container)) & _all_database_url_names()
            assert urls == {f"{service.upper()}_DATABASE_URL"}, doc["metadata"]["name"]


def test_secret_references_resolve_and_secrets_stay_out_of_the_configmap() -> None:
    secrets = {s["metadata"]["name"]: s.get("stringData", s.get("data", {}))
               for s in _objects("Secret")}
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in _objects("ConfigMap")}
    for doc in _workloads():
        for container in _containers(_pod_spec(doc) or {}):
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    assert ref.get("optional") or ref["key"] in secrets[ref["name"]], \
                        entry["name"]
                if "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    assert ref["key"] in configmaps[ref["name"]], entry["name"]
    for data in configmaps.values():
        leaked = {k for k in data if "DATABASE_URL" in k or "SECRET" in k or "PASSWORD" in k}
        assert not leaked, f"secret values in a ConfigMap: {leaked}"


def test_committed_secret_holds_only_marked_placeholders() -> None:
    for secret in _objects("Secret"):
        assert "data" not in secret, "base64 data hides what is committed; use stringData"
        for key, value in secret["stringData"].items():
            assert "CHANGE-ME" in value, f"{key} looks like a real value"


def test_every_tenure_pod_takes_the_identity_provider_from_the_configmap() -> None:
    (configmap,) = _objects("ConfigMap")
    data = configmap["data"]
    assert data["OIDC_ISSUER"].startswith("https://"), "an issuer in production is https"
    assert data["OIDC_AUDIENCE"]
    assert {"OIDC_ROLES_CLAIM", "OIDC_SCOPE_CLAIM", "OIDC_MANAGER_CLAIM"} <= set(data)
    assert set(k for k in data if k.startswith("OIDC_")) <= _env_vocabulary()
    for doc in _tenure_workloads():
        for container in _containers(_pod_spec(doc) or {}):
            sources = [s["configMapRef"]["name"] for s in container.get("envFrom", [])
                       if "configMapRef" in s]
            assert configmap["metadata"]["name"] in sources, doc["metadata"]["name"]


def test_jwt_secret_is_optional_and_no_placeholder_of_it_is_committed() -> None:
    for doc in _tenure_workloads():
        for container in _containers(_pod_spec(doc) or {}):
            for entry in container.get("env", []):
                if entry["name"] == "JWT_SECRET":
                    assert entry["valueFrom"]["secretKeyRef"].get("optional") is True
    for secret in _objects("Secret"):
        assert "JWT_SECRET" not in secret.get("stringData", {}), \
            "a placeholder JWT_SECRET would make every pod refuse to start"


def test_gunicorn_workers_are_pinned_rather_than_counted_from_node_cpus() -> None:
    (configmap,) = _objects("ConfigMap")
    assert int(configmap["data"]["GUNICORN_WORKERS"]) >= 1


# -- Kubernetes: tools, when installed -------------------------------------------------------


def _kubectl() -> str | None:
    return shutil.which("kubectl")


def _rendered() -> list[Doc]:
    kubectl = _kubectl()
    assert kubectl
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.skipif(_kubectl() is None, reason="kubectl is not installed")
def test_kustomize_renders_with_the_released_image_in_the_tenure_namespace() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (image,) = [i for i in kustomization["images"] if i["name"] == IMAGE]
    reference = f"{image.get('newName', IMAGE)}:{image['newTag']}"
    rendered = _rendered()
    assert len(rendered) == len(_k8s_docs())
    tenure_containers = 0
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "tenure", doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tenure"
        pod = _pod_spec(doc)
        for container in _containers(pod) if pod else []:
            assert container["image"] != IMAGE, "an image was left unmapped"
            tenure_containers += container["image"] == reference
    assert tenure_containers == sum(
        1 for doc in [*_tenure_workloads(), _portal()]
        for c in _containers(_pod_spec(doc) or {})
        if c["image"] == IMAGE
    )


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed")
    docs = _rendered() if _kubectl() else [doc for _, doc in _k8s_docs()]
    version = kubernetes_validate.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


# -- compose ----------------------------------------------------------------------------------


def _depends(service: Doc) -> dict[str, str]:
    depends = service.get("depends_on", {})
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def _has_healthcheck(service: Doc) -> bool:
    check = service.get("healthcheck")
    return bool(check) and not check.get("disable") and bool(check.get("test"))


def test_compose_runs_kafka_in_kraft_mode_as_broker_and_controller() -> None:
    kafka = _compose_services()["kafka"]
    assert re.fullmatch(r"apache/kafka:(3\.9|4\.\d+)\.\d+", kafka["image"]), kafka["image"]
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    replication = {k: v for k, v in env.items() if "REPLICATION_FACTOR" in k}
    assert replication and set(replication.values()) == {1}
    assert str(env["KAFKA_NUM_PARTITIONS"]) == str(PARTITIONS)
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert _has_healthcheck(kafka)


def test_compose_creates_every_topic_before_relays_and_consumers_start() -> None:
    services = _compose_services()
    topics = services["kafka-topics"]
    assert _depends(topics) == {"kafka": "service_healthy"}
    script = " ".join(_command(topics["command"]))
    assert set(TOPICS) <= set(re.findall(r"hr\.[a-z]+", script))
    for name, service in _compose_tenure_services().items():
        if name.endswith(("-relay", "-consumer")):
            assert _depends(service)["kafka-topics"] == "service_completed_successfully", name


def test_compose_postgres_16_creates_one_database_per_service() -> None:
    postgres = _compose_services()["postgres"]
    assert re.fullmatch(r"postgres:16([.-].*)?", postgres["image"]), postgres["image"]
    assert _has_healthcheck(postgres)
    assert "pg_isready" in " ".join(_command(postgres["healthcheck"]["test"]))
    mounts = [v.split(":") for v in postgres["volumes"]]
    init_dirs = [DEPLOY / src for src, dst, *_ in mounts if dst == "/docker-entrypoint-initdb.d"]
    assert init_dirs and (init_dirs[0] / "create-databases.sql").is_file()
    sql = (init_dirs[0] / "create-databases.sql").read_text()
    assert set(re.findall(r"CREATE DATABASE (\w+)", sql)) == set(PORTS)


@pytest.mark.parametrize("service", sorted(PORTS))
def test_compose_api_publishes_its_port_with_a_healthcheck(service: str) -> None:
    api = _compose_services()[f"{service}-api"]
    assert _gunicorn_service(_command(api["command"])) == service
    port = PORTS[service]
    assert f"{port}:{port}" in api["ports"]
    assert str(api["environment"]["PORT"]) == str(port)
    assert _has_healthcheck(api)
    assert "/healthz" in " ".join(_command(api["healthcheck"]["test"]))


@pytest.mark.parametrize("service", sorted(PORTS))
def test_compose_api_starts_after_its_migration_completes(service: str) -> None:
    services = _compose_services()
    migrate = services[f"{service}-migrate"]
    assert _flask_command(_command(migrate["command"])) == (service, "migrate")
    assert migrate["restart"] == "no"
    assert _depends(migrate)["postgres"] == "service_healthy"
    depends = _depends(services[f"{service}-api"])
    assert depends[f"{service}-migrate"] == "service_completed_successfully"
    assert depends["kafka"] == "service_healthy"
    assert depends["postgres"] == "service_healthy"


@pytest.mark.parametrize("service", sorted(PORTS))
def test_compose_runs_the_services_workers_after_its_migration(service: str) -> None:
    services = _compose_services()
    expected = {"relay": "relay", "consumer": "consume"}
    if service == "notifications":
        expected["deliver"] = "deliver"
    for suffix, command in expected.items():
        worker = services[f"{service}-{suffix}"]
        assert _flask_command(_command(worker["command"])) == (service, command)
        assert _depends(worker)[f"{service}-migrate"] == "service_completed_successfully"
        # The image's HEALTHCHECK asks HTTP /healthz, which a worker does not serve.
        assert worker["healthcheck"] == {"disable": True}


def test_compose_commands_are_ones_their_service_runs() -> None:
    for name, service in _compose_tenure_services().items():
        owner = name.split("-")[0]
        argv = _command(service["command"])
        if argv[0] == "gunicorn":
            assert _gunicorn_service(argv) == owner
        else:
            flask_service, command = _flask_command(argv)
            assert flask_service == owner and command in _allowed_commands(owner), name


def test_compose_health_conditions_point_at_services_with_healthchecks() -> None:
    services = _compose_services()
    for name, service in services.items():
        for dependency, condition in _depends(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert _has_healthcheck(services[dependency]), f"{name} -> {dependency}"
            if condition == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", f"{name} -> {dependency}"


def test_compose_env_names_are_ones_the_code_reads_and_each_sees_its_own_database() -> None:
    vocabulary = _env_vocabulary()
    for name, service in _compose_tenure_services().items():
        owner = name.split("-")[0]
        env = service["environment"]
        assert set(env) <= vocabulary, f"{name}: unknown {sorted(set(env) - vocabulary)}"
        assert set(env) & _all_database_url_names() == {f"{owner.upper()}_DATABASE_URL"}, name
        url = env[f"{owner.upper()}_DATABASE_URL"]
        assert re.fullmatch(rf"postgresql\+psycopg://\w+:.+@postgres:5432/{owner}", url), url
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        # A secret comes only from the caller's environment: no placeholder to fall back on.
        assert env.get("JWT_SECRET", "${JWT_SECRET:-}") == "${JWT_SECRET:-}", name


def test_compose_runs_keycloak_with_the_realm_file_and_services_trust_it() -> None:
    services = _compose_services()
    keycloak = services["keycloak"]
    assert re.fullmatch(r"quay\.io/keycloak/keycloak:26\.\d+\.\d+", keycloak["image"])
    command = _command(keycloak["command"])
    assert command[0] == "start-dev" and "--import-realm" in command
    mounts = [v.split(":") for v in keycloak["volumes"]]
    (source,) = [src for src, dst, *_ in mounts if dst == "/opt/keycloak/data/import"]
    realm = json.loads((DEPLOY / source / "tenure-realm.json").read_text())
    assert _has_healthcheck(keycloak)
    # No fallback for the admin password either.
    assert ":?" in keycloak["environment"]["KC_BOOTSTRAP_ADMIN_PASSWORD"]
    hostname = next(c.split("=", 1)[1] for c in command if c.startswith("--hostname="))
    audiences = {m["config"]["included.custom.audience"] for c in realm["clients"]
                 for m in c["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"}
    realm_roles = {r["name"] for r in realm["roles"]["realm"]}
    assert {"hr_admin", "appraiser", "manager", "service"} <= realm_roles
    for name, service in _compose_tenure_services().items():
        env = service["environment"]
        assert env["OIDC_ISSUER"] == f"{hostname}/realms/{realm['realm']}", name
        assert env["OIDC_DISCOVERY_URL"].startswith("http://keycloak:8080/realms/"), name
        assert env["OIDC_AUDIENCE"] in audiences, name
        assert env["OIDC_ROLES_CLAIM"] == "realm_access.roles", name


def test_realm_file_lets_no_user_edit_their_own_scope_or_manager_id() -> None:
    realm = json.loads((DEPLOY / "keycloak" / "tenure-realm.json").read_text())
    (profile,) = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    config = json.loads(profile["config"]["kc.user.profile.config"][0])
    attributes = {a["name"]: a for a in config["attributes"]}
    for name in ("org_scope", "manager_id"):
        assert attributes[name]["permissions"]["edit"] == ["admin"], name


def test_compose_builds_the_image_from_the_repository_root() -> None:
    for name, service in _compose_tenure_services().items():
        build = service["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == REPO, name
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE
        assert service["image"] == _compose_services()["contracts-api"]["image"], name


def test_compose_file_validates_against_the_compose_specification() -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (its compose schema) absent")
    import jsonschema

    spec = importlib.util.find_spec("check_jsonschema.builtin_schemas.vendor")
    assert spec and spec.submodule_search_locations
    schema_file = Path(next(iter(spec.submodule_search_locations))) / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(_compose())]
    assert not errors, errors


def _docker_compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30,
                           check=False)
    return probe.returncode == 0


@pytest.fixture
def compose_env() -> Iterator[dict[str, str]]:
    yield {**os.environ, "KEYCLOAK_ADMIN_PASSWORD": "test-only-password"}


def test_docker_compose_accepts_the_file(compose_env: dict[str, str]) -> None:
    if not _docker_compose_plugin():
        pytest.skip("the `docker compose` plugin is not installed (only the docker client is)")
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
                            capture_output=True, text=True, timeout=60, env=compose_env,
                            check=False)
    assert result.returncode == 0, result.stderr


# -- Dockerfile -------------------------------------------------------------------------------


def test_image_is_multi_stage_on_python_311_slim() -> None:
    bases = [args.split()[0] for ins, args in _dockerfile_instructions() if ins == "FROM"]
    assert len(bases) >= 2
    assert all(base == "python:3.11-slim" for base in bases), bases
    assert any(ins == "COPY" and args.startswith("--from=") for ins, args in _final_stage())


def test_image_runs_as_a_non_root_user() -> None:
    users = [args for ins, args in _final_stage() if ins == "USER"]
    assert users, "the runtime stage has no USER"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}
    assert int(uid) == IMAGE_UID


def test_image_installs_runtime_dependencies_only_and_never_editable() -> None:
    runs = " ".join(args for ins, args in _dockerfile_instructions() if ins == "RUN")
    assert not re.search(r"pip[^&;]*\sinstall[^&;]*\s(-e|--editable)\b", runs)
    assert "[dev]" not in runs
    assert "pip install" in runs or "pip --python" in runs


def test_image_sets_python_runtime_flags_ports_healthcheck_and_default_api() -> None:
    final = _final_stage()
    env = " ".join(args for ins, args in final if ins == "ENV")
    assert re.search(r"\bPYTHONDONTWRITEBYTECODE=1\b", env)
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", env)
    exposed = {int(p.split("/")[0]) for ins, args in final if ins == "EXPOSE"
               for p in args.split()}
    assert exposed == set(PORTS.values())
    (health,) = [args for ins, args in final if ins == "HEALTHCHECK"]
    assert "/healthz" in health and "PORT" in health and "curl" not in health
    cmd = json.loads([args for ins, args in final if ins == "CMD"][-1])
    assert _gunicorn_service(cmd) == "contracts"


def test_image_contains_the_gunicorn_settings_where_the_commands_expect_them() -> None:
    final = _final_stage()
    workdir = [args for ins, args in final if ins == "WORKDIR"][-1]
    copies = [args.split() for ins, args in final if ins == "COPY" and "--from" not in args]
    targets = {dst: src for src, dst in copies}
    assert targets.get(f"{workdir}/{GUNICORN_CONF}") == GUNICORN_CONF
    assert (REPO / GUNICORN_CONF).is_file()


def test_build_context_filter_keeps_exactly_what_the_dockerfile_copies() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "the filter should start by excluding everything"
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    sources = {args.split()[0].rstrip("/") for ins, args in _dockerfile_instructions()
               if ins == "COPY" and not args.startswith("--from")}
    assert sources == kept
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_compose_runs_the_portal_against_the_apis_and_keycloak_with_a_required_key() -> None:
    portal = _compose_services()["portal"]
    assert _command(portal["command"])[-1] == "services.portal.wsgi:app"
    env = portal["environment"]
    assert env["PORT"] == "8004" and "8004:8004" in portal["ports"]
    assert env["PORTAL_SECRET_KEY"].startswith("${PORTAL_SECRET_KEY:?"), "no fallback key"
    assert env["PORTAL_OIDC_CLIENT_ID"] == "tenure-portal"
    for service, port in PORTS.items():
        assert env[f"PORTAL_{service.upper()}_URL"] == f"http://{service}-api:{port}"
    assert set(env) <= _env_vocabulary() | {"LOG_JSON", "PORT"}
