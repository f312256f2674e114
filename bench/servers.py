"""The servers under load: started from the project folder with the venv's
binaries, each on a free loopback port, logging to bench/out/NAME.log, and
stopped at the end whatever happened."""

import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
OUT = ROOT / "bench" / "out"


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    rss_first: dict[int, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return OUT / f"{self.name}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """gunicorn's workers; the gRPC server is one process."""
        return children(self.process.pid) or [self.process.pid]


def proc_stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields from the third (state) on."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(proc_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return found


def manage(env: dict, *args: str, cwd: Path = ROOT) -> None:
    """manage.py of the project in `cwd` (a --baseline revision's, or ours)."""
    subprocess.run([BIN / "python", "manage.py", *args], cwd=cwd, env=env, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_bind(port: int) -> list[str]:
    return ["--bind", f"127.0.0.1:{port}"]


def grpcserve_bind(port: int) -> list[str]:
    return ["--bind", "127.0.0.1", "--port", str(port)]


@contextmanager
def serve(name: str, command: list[str], bind, env: dict, ready, cwd: Path = ROOT):
    """Run `command` plus `bind(port)` in `cwd` until the end; `ready(server)`
    says when it serves."""
    port = free_port()
    log = (OUT / f"{name}.log").open("w")
    process = subprocess.Popen(
        [*command, *bind(port)],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(name, process, port)
    try:
        wait_until_serving(server, ready)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_serving(server: Server, ready) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            sys.exit(f"bench: {server.name} exited; see bench/out/{server.name}.log")
        try:
            if ready(server):
                return
        except (OSError, grpc.RpcError):
            pass
        time.sleep(0.3)
    sys.exit(f"bench: {server.name} did not answer within 60 s")


def http_ready(path: str, token: str):
    """Ready when GET `path` with `token` answers 200."""

    def ready(server: Server) -> bool:
        request = urllib.request.Request(
            f"{server.url}{path}",
            headers={"Authorization": f"Token {token}"},
        )
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200

    return ready


def grpc_ready(server: Server) -> bool:
    with grpc.insecure_channel(server.address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    return answer.status == health_pb2.HealthCheckResponse.SERVING


CITUS_IMAGE = "citusdata/citus:13.2-pg15"


@dataclass
class Cluster:
    """A throwaway Citus cluster (bench --citus): a coordinator and workers,
    each a container on the host's network; their postmasters' host pids,
    whose process trees hold the cluster's CPU."""

    url: str
    containers: list[str]

    def postmasters(self) -> list[int]:
        return [
            int(
                subprocess.run(
                    ["docker", "inspect", "-f", "{{.State.Pid}}", container],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for container in self.containers
        ]


@contextmanager
def citus_cluster(workers: int = 2):
    """A coordinator and `workers` workers of CITUS_IMAGE with the database
    `cart` registered on all (docker/citus/cluster-database, run inside the
    coordinator), as docker-compose.citus.yaml runs them; removed at the end."""
    password = secrets.token_hex(16)
    ports = [free_port() for _ in range(1 + workers)]
    containers: list[str] = []
    try:
        for port in ports:
            containers.append(
                subprocess.run(
                    [
                        *("docker", "run", "--detach", "--network", "host"),
                        *(
                            "-e",
                            f"PGPORT={port}",
                            "-e",
                            f"POSTGRES_PASSWORD={password}",
                        ),
                        *("-e", "POSTGRES_USER=cart", "-e", "POSTGRES_DB=cart"),
                        CITUS_IMAGE,
                        *("postgres", "-c", "max_connections=200"),
                        *("-c", "max_prepared_transactions=200"),
                        *("-c", "max_worker_processes=32"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
            )
        script = (ROOT / "docker" / "citus" / "cluster-database").read_text()
        subprocess.run(
            [
                *("docker", "exec", "-i", "-e", "PGUSER=cart"),
                *("-e", f"PGPASSWORD={password}"),
                *("-e", f"CITUS_COORDINATOR=127.0.0.1:{ports[0]}"),
                *(
                    "-e",
                    "CITUS_WORKERS=" + " ".join(f"127.0.0.1:{p}" for p in ports[1:]),
                ),
                *(containers[0], "bash", "-s", "cart"),
            ],
            input=script,
            text=True,
            check=True,
            capture_output=True,
        )
        yield Cluster(
            f"postgres://cart:{password}@127.0.0.1:{ports[0]}/cart", containers
        )
    finally:
        if containers:
            subprocess.run(
                ["docker", "rm", "--force", "--volumes", *containers],
                capture_output=True,
            )
