"""What the deployed compose file (docker-compose.yaml, without the CI
override) publishes on the host: nginx's port to the network, anything else
on the host's loopback only."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.stack

DEPLOYED = Path(__file__).resolve().parents[2] / "docker-compose.yaml"
PUBLIC = {"nginx"}


def host_address(port: str | dict) -> str:
    """The host address a port is published on ("" for every interface).
    compose v1 writes "HOST:PUBLISHED:TARGET/tcp" when there is one, else
    the long syntax; v2 always the long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip") or ""
    parts = port.rsplit(":", 2)
    return parts[0] if len(parts) == 3 else ""


def published_ports() -> dict[str, list[str | dict]]:
    """{service: its published ports}, from the file as compose resolves it."""
    compose = shlex.split(os.environ["CART_STACK_COMPOSE"])
    profiles = ["--profile", "test", "--profile", "ops"]
    result = subprocess.run(
        [*compose, "-f", str(DEPLOYED), *profiles, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    services = yaml.safe_load(result.stdout)["services"]
    return {name: svc["ports"] for name, svc in services.items() if "ports" in svc}


def test_only_nginx_is_published_beyond_the_hosts_loopback():
    ports = published_ports()

    beyond_loopback = sorted(
        f"{name}: {port}"
        for name, published in ports.items()
        if name not in PUBLIC
        for port in published
        if host_address(port) != "127.0.0.1"
    )

    assert ports.keys() >= PUBLIC  # the file was read
    assert "grpc" in ports  # for grpcurl on the host
    assert beyond_loopback == []
