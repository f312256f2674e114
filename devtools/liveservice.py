"""The real service in a subprocess: gunicorn with gunicorn.conf.py on a free
port of 127.0.0.1, for the tests that need real processes and signals (and
for bench/soak.py)."""

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


class Gunicorn:
    """`with Gunicorn(database_url, tmp_dir) as server:` serves until the end."""

    def __init__(self, database_url: str, directory: Path, *, workers=2, env=None):
        self.port = free_port()
        self.log_path = directory / "gunicorn.log"
        self.env = {
            **os.environ,
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY")
            or "test-only-not-secret",
            "DATABASE_URL": database_url,
            "GUNICORN_WORKERS": str(workers),
            "CART_THROTTLE_CACHE_DIR": str(directory / "throttle"),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Gunicorn":
        # No control socket: test servers running side by side would share it.
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        command.append("--no-control-socket")
        bind = f"127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--bind", bind],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.wait_until(lambda: self.request("GET", "/healthz").status == 200)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def request(
        self, method: str, path: str, *, token=None, body=None, timeout=10.0
    ) -> Answer:
        headers = {"Authorization": f"Token {token}"} if token else {}
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

    def wait_until(self, condition, timeout: float = 30.0) -> float:
        """Poll `condition` (connection errors count as False); seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.started().poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()}")
            try:
                if condition():
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"gave up after {timeout} s:\n{self.log()[-3000:]}")

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

    def started(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("gunicorn was not started")
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
