"""deploy/kubernetes as kubectl's kustomize renders it agrees with the service:
ports, probe paths, environment variables, the image's users, and Online
Boutique's names. scripts/check-kubernetes (make kubernetes) validates the
same renderings against the Kubernetes API's schemas."""

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from django.urls import resolve

from devtools.liveservice import ROOT

pytestmark = pytest.mark.repository

KUBECTL = Path(sys.executable).parent / "kubectl"
KUBERNETES = ROOT / "deploy" / "kubernetes"
APP_IMAGE, NGINX_IMAGE = "cart-service", "cart-nginx"


@cache
def rendered(directory: str) -> tuple[dict, ...]:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(KUBERNETES / directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return tuple(yaml.safe_load_all(result.stdout))


def find(objects, kind: str, name: str) -> dict:
    (found,) = [
        o for o in objects if (o["kind"], o["metadata"]["name"]) == (kind, name)
    ]
    return found


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container(workload: dict, name: str) -> dict:
    (found,) = [c for c in pod_spec(workload)["containers"] if c["name"] == name]
    return found


def env(a_container: dict) -> dict[str, object]:
    return {
        item["name"]: item.get("value", item.get("valueFrom"))
        for item in a_container.get("env", [])
    }


def port(a_container: dict, name: str) -> int:
    (number,) = [p["containerPort"] for p in a_container["ports"] if p["name"] == name]
    return number


def image_users() -> dict[str, str]:
    """The USER of each Dockerfile stage: {"app": "10001:10001", ...}."""
    users: dict[str, str] = {}
    stage = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if match := re.match(r"FROM \S+ AS (\w+)", line):
            stage = match[1]
        elif match := re.match(r"USER (\S+)", line):
            users[stage] = match[1]
    return users


def all_containers(objects):
    for workload in objects:
        if workload["kind"] in {"Deployment", "Job", "StatefulSet"}:
            spec = pod_spec(workload)
            for each in spec.get("initContainers", []) + spec["containers"]:
                yield workload, each


def base() -> tuple[dict, ...]:
    return rendered("base")


def online_boutique() -> tuple[dict, ...]:
    return rendered("examples/online-boutique")


@pytest.mark.parametrize("directory", ["base", "examples/online-boutique"])
def test_every_container_runs_as_its_images_user_with_requests_and_limits(
    directory,
):
    users = image_users()
    expected = {APP_IMAGE: users["app"], NGINX_IMAGE: users["nginx"]}
    ours = [
        (workload, each)
        for workload, each in all_containers(rendered(directory))
        if each["image"].split(":")[0] in expected
    ]
    assert len(ours) == 6  # migrate; web: wait, nginx, gunicorn; grpc: wait, grpc
    for workload, each in ours:
        security = each["securityContext"]
        user = f"{security['runAsUser']}:{security['runAsGroup']}"
        assert user == expected[each["image"].split(":")[0]], each["name"]
        assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert set(each["resources"]) == {"requests", "limits"}


def test_every_variable_the_app_is_given_is_a_documented_setting():
    documented = set(
        re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs/configuration.md").read_text())
    )
    nginx_documented = set(
        re.findall(
            r"^#\s+([A-Z_]+)\s", (ROOT / "docker/nginx/entrypoint.sh").read_text(), re.M
        )
    )
    for objects in (base(), online_boutique()):
        for _, each in all_containers(objects):
            image = each["image"].split(":")[0]
            if image == APP_IMAGE:
                assert set(env(each)) <= documented, each["name"]
            elif image == NGINX_IMAGE:
                assert set(env(each)) <= nginx_documented


def test_the_web_pod_serves_through_nginx_and_probes_gunicorns_own_paths():
    objects = base()
    web = find(objects, "Deployment", "cart-web")
    nginx, gunicorn = container(web, "nginx"), container(web, "gunicorn")
    service = find(objects, "Service", "cart-web")
    (service_port,) = service["spec"]["ports"]
    assert port(nginx, service_port["targetPort"]) == int(env(nginx)["NGINX_PORT"])
    # nginx passes requests to the pod's gunicorn, which binds where the
    # image says (GUNICORN_BIND) unless told otherwise.
    image_bind = re.search(r"GUNICORN_BIND=(\S+)", (ROOT / "Dockerfile").read_text())
    bind = env(gunicorn).get("GUNICORN_BIND", image_bind[1])
    assert bind.rpartition(":")[2] == str(port(gunicorn, "gunicorn"))
    assert env(nginx)["NGINX_UPSTREAMS"] == f"127.0.0.1:{port(gunicorn, 'gunicorn')}"

    allowed = env(gunicorn)["DJANGO_ALLOWED_HOSTS"].split(",")
    probes = {
        kind: gunicorn[kind]["httpGet"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert {kind: probe["path"] for kind, probe in probes.items()} == {
        "startupProbe": "/healthz",
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
    }
    for probe in probes.values():
        assert resolve(probe["path"]).url_name == probe["path"].strip("/")
        assert probe["port"] == "gunicorn"
        (host,) = [h["value"] for h in probe["httpHeaders"] if h["name"] == "Host"]
        assert host in allowed


def test_the_grpc_server_listens_where_its_service_and_probes_point():
    objects = base()
    grpc = find(objects, "Deployment", "cart-grpc")
    server = container(grpc, "grpc")
    assert server["args"] == ["python", "manage.py", "grpcserve"]
    assert env(server)["CART_GRPC_BIND"] == "0.0.0.0"
    assert int(env(server)["CART_GRPC_PORT"]) == port(server, "grpc") == 7070
    # grpc.health.v1 for the whole server (""), as Online Boutique probes.
    assert server["readinessProbe"]["grpc"] == {"port": 7070}
    assert server["livenessProbe"]["tcpSocket"] == {"port": "grpc"}
    (service_port,) = find(objects, "Service", "cart-grpc")["spec"]["ports"]
    assert (service_port["port"], service_port["targetPort"]) == (7070, "grpc")


def test_servers_wait_for_the_migration_job_which_runs_migrate():
    objects = base()
    job = find(objects, "Job", "cart-migrate")
    assert container(job, "migrate")["args"] == [
        *("python", "manage.py", "migrate", "--noinput")
    ]
    for name in ("cart-web", "cart-grpc"):
        (wait,) = pod_spec(find(objects, "Deployment", name))["initContainers"]
        assert "manage.py migrate --check" in wait["args"][-1]


def test_budgets_autoscalers_and_services_select_the_servers_pods():
    objects = base()
    for name in ("cart-web", "cart-grpc"):
        deployment = find(objects, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        budget = find(objects, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        service = find(objects, "Service", name)
        assert service["spec"]["selector"].items() <= labels.items()
        autoscaler = find(objects, "HorizontalPodAutoscaler", name)
        assert autoscaler["spec"]["scaleTargetRef"]["name"] == name


def test_only_online_boutiques_front_end_and_checkout_reach_the_grpc_port():
    objects = base()
    policy = find(objects, "NetworkPolicy", "cart-grpc")
    grpc_labels = find(objects, "Deployment", "cart-grpc")["spec"]["template"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        grpc_labels["metadata"]["labels"].items()
    )
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app": "frontend"}}},
        {"podSelector": {"matchLabels": {"app": "checkoutservice"}}},
    ]
    assert rule["ports"] == [{"port": 7070, "protocol": "TCP"}]
    (web_rule,) = find(objects, "NetworkPolicy", "cart-web")["spec"]["ingress"]
    assert web_rule == {"ports": [{"port": 8080, "protocol": "TCP"}]}


def test_online_boutiques_callers_reach_this_grpc_server_as_cartservice_7070():
    objects = online_boutique()
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Deployment", "cartservice") not in names
    assert ("ServiceAccount", "cartservice") not in names
    assert not {name for _, name in names if name == "redis-cart"}

    service = find(objects, "Service", "cartservice")
    (service_port,) = service["spec"]["ports"]
    selected = [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Deployment"
        and service["spec"]["selector"].items()
        <= o["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert selected == ["cart-grpc"]
    server = container(find(objects, "Deployment", "cart-grpc"), "grpc")
    assert (service_port["port"], service_port["targetPort"]) == (
        7070,
        port(server, "grpc"),
    )
    for caller in ("frontend", "checkoutservice"):
        (caller_container,) = pod_spec(find(objects, "Deployment", caller))[
            "containers"
        ]
        assert env(caller_container)["CART_SERVICE_ADDR"] == "cartservice:7070"
