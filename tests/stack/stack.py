"""The running compose stack, as scripts/container-check describes it in the
environment: ports of nginx, each web replica, PgBouncer, PostgreSQL, Redis;
the compose command and project (COMPOSE_FILE, COMPOSE_PROJECT_NAME)."""

import contextlib
import http.client
import json
import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import psycopg2

REPLICAS = ("web1", "web2", "web3")


class Answer(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    body: Any
    seconds: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port(service: str) -> int:
    return int(os.environ[f"CI_{service.upper()}_PORT"])


def call(
    service: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Answer:
    """One request on a new connection to `service` ("web" is nginx)."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Token {token}"
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port(service), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        raw = reply.read()
    finally:
        connection.close()
    text = raw.decode(errors="replace")
    is_json = reply.headers.get("Content-Type", "").startswith("application/json")
    return Answer(
        reply.status,
        reply.headers,
        json.loads(text) if is_json and text else text,
        time.monotonic() - started,
    )


def compose(*args: str, check: bool = True) -> str:
    """A compose command on the stack's project; its output."""
    result = subprocess.run(
        [*shlex.split(os.environ["CART_STACK_COMPOSE"]), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"compose {' '.join(args)}: {result.stderr}")
    return result.stdout + result.stderr


def logs(*services: str) -> list[str]:
    return compose("logs", "--no-color", *services).splitlines()


def wait_healthy(service: str, timeout: float = 120) -> None:
    container = compose("ps", "-q", service).strip()
    deadline = time.monotonic() + timeout
    while True:
        status = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if status == "healthy":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} is {status!r} after {timeout} s")
        time.sleep(0.5)


def database_url(via: str) -> str:
    """The service's database through "db" (directly) or "pgbouncer"."""
    user = os.environ.get("POSTGRES_USER", "cart")
    name = os.environ.get("POSTGRES_DB", "cart")
    password = os.environ["POSTGRES_PASSWORD"]
    return f"postgres://{user}:{password}@127.0.0.1:{port(via)}/{name}"


@contextlib.contextmanager
def connected(via: str = "db") -> Iterator[psycopg2.extensions.connection]:
    """An autocommit connection, closed at the end. Not psycopg2's own `with
    connection:`, which (since 2.9) holds one transaction open, and with it
    one snapshot of pg_stat_activity."""
    connection = psycopg2.connect(database_url(via), connect_timeout=10)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


def metric(service: str, name: str, **labels: str) -> float:
    """The sum of a counter's samples on one replica that carry these labels."""
    text = call(service, "GET", "/metrics").body
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match[3])
    return total


def record(figure: str) -> None:
    """A measured figure for the container stage's summary (and the report)."""
    path = os.environ.get("CART_STACK_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(figure + "\n")
    print(figure)
