"""The real servers in subprocesses on free ports of 127.0.0.1, for the tests
that need real processes and signals (and for bench/soak.py): gunicorn with
gunicorn.conf.py, and the gRPC server (manage.py grpcserve)."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from carts.grpc import cart_pb2_grpc

from .pgcluster import free_port

ROOT = Path(__file__).resolve().parent.parent


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: object
    seconds: float


def manage(database_url: str, *args: str) -> str:
    """Run a manage.py command against `database_url`; its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def prepare_database(database_url: str) -> dict[str, str]:
    """Migrate, load the catalog, create the demo accounts: {username: token}."""
    manage(database_url, "migrate", "--noinput")
    manage(database_url, "loaddata", "catalog")
    out = manage(database_url, "bootstrap_demo")
    return dict(re.findall(r"^\w+ +(\w+): token (\w+)$", out, flags=re.M))


class LiveProcess:
    """A server in a subprocess on a free port of 127.0.0.1, with the test
    settings, its output in `directory`; `with` starts it and waits until it
    is ready, and stops it with SIGTERM."""

    name = "server"

    def __init__(self, database_url: str, directory: Path, *, env=None):
        self.port = free_port()
        self.log_path = directory / f"{self.name}.log"
        self.env = {
            **os.environ,
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY")
            or "test-only-not-secret",
            "DATABASE_URL": database_url,
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def __enter__(self):
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.wait_until(self.ready)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def wait_until(self, condition, timeout: float = 30.0) -> float:
        """Poll `condition` (connection errors count as False); seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.started().poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            try:
                if condition():
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"gave up after {timeout} s:\n{self.log()[-3000:]}")

    def started(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.process

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops a container; the exit code."""
        if self.started().poll() is None:
            self.started().send_signal(signal.SIGTERM)
        try:
            return self.started().wait(timeout=45)
        except subprocess.TimeoutExpired:
            self.started().kill()
            return self.started().wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Gunicorn(LiveProcess):
    """`with Gunicorn(database_url, tmp_dir) as server:` serves until the end."""

    name = "gunicorn"

    def __init__(self, database_url: str, directory: Path, *, workers=2, env=None):
        super().__init__(
            database_url,
            directory,
            env={
                "GUNICORN_WORKERS": str(workers),
                "CART_THROTTLE_CACHE_DIR": str(directory / "throttle"),
                **(env or {}),
            },
        )

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"),
            *("--bind", f"127.0.0.1:{self.port}"),
        ]

    def ready(self) -> bool:
        return self.request("GET", "/healthz").status == 200

    def request(
        self,
        method: str,
        path: str,
        *,
        token=None,
        body=None,
        headers=None,
        timeout=10.0,
    ) -> Answer:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Token {token}"
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        started = time.monotonic()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        seconds = time.monotonic() - started
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
        is_json = answer_headers.get("content-type") == "application/json"
        body = json.loads(raw) if is_json and raw else raw
        return Answer(response.status, answer_headers, body, seconds)

    def worker_pids(self) -> set[int]:
        """The master's children, from /proc."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            if int(fields[1]) == self.started().pid and fields[0] != "Z":
                children.add(int(stat.parent.name))
        return children


class GrpcServer(LiveProcess):
    """`manage.py grpcserve`; `cart` and `health` are stubs on one channel.
    Ready when its health service answers (SERVING or not)."""

    name = "grpcserve"

    def __init__(self, database_url: str, directory: Path, *, env=None):
        super().__init__(database_url, directory, env=env)
        self.address = f"127.0.0.1:{self.port}"
        self.channel = grpc.insecure_channel(self.address)
        self.cart = self.stub_for(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    @staticmethod
    def stub_for(channel: grpc.Channel) -> cart_pb2_grpc.CartServiceStub:
        return cart_pb2_grpc.CartServiceStub(channel)

    def command(self) -> list[str]:
        return [
            *(sys.executable, "manage.py", "grpcserve"),
            *("--bind", "127.0.0.1", "--port", str(self.port)),
        ]

    def ready(self) -> bool:
        try:
            self.health_status()
        except grpc.RpcError:
            return False
        return True

    def health_status(self, service: str = "") -> str:
        """SERVING or NOT_SERVING."""
        answer = self.health.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)

    def stop(self) -> int:
        self.channel.close()
        return super().stop()
