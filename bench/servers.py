"""The servers under load: started from the project folder with the venv's
binaries, each on a free loopback port, logging to bench/out/NAME.log, and
stopped at the end whatever happened."""

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
