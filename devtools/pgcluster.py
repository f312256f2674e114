"""A throwaway PostgreSQL cluster: initdb in a temporary directory, a free port
on 127.0.0.1, removed afterwards whatever happened.

Two users: scripts/with-postgres runs this file as a script (`pgcluster.py CMD
[ARGS...]` runs CMD with DATABASE_URL pointing at a fresh cluster), and the
tests that stop and start a database of their own use `Cluster`. Standard
library only, so the system Python can run it before any virtualenv exists.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

# Durability is pointless for a throwaway cluster (a fast shutdown still
# flushes everything); the concurrency tests want more than 100 connections.
SERVER_OPTIONS = (
    "-c max_connections=300 -c fsync=off -c synchronous_commit=off"
    " -c full_page_writes=off"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _newest_server_bin() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name),
    )
    return candidates[-1].parent if candidates else None


def server_bin() -> Path:
    """The PostgreSQL server binaries (PG_BIN, or the newest installed);
    installs Debian's `postgresql` package when root and none is there."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = _newest_server_bin()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("pgcluster: installing PostgreSQL (apt-get install)", file=sys.stderr)
        apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt)
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
        subprocess.run(
            [*install, "postgresql"],
            check=True,
            env=apt,
            stdout=subprocess.DEVNULL,
        )
        found = _newest_server_bin()
    if found is None:
        raise RuntimeError(
            "PostgreSQL server binaries not found; install the 'postgresql' "
            "package or set DATABASE_URL"
        )
    return found


class Cluster:
    """One cluster; `with Cluster() as cluster:` creates and starts it."""

    def __init__(self):
        self.bin = server_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="cart-pg."))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        # initdb refuses to run as root: run the server as an unprivileged account.
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            owner = "postgres" if _account_exists("postgres") else "nobody"
            shutil.chown(self.dir, owner)
            self.as_owner = ["runuser", "-u", owner, "--"]

    def __enter__(self) -> "Cluster":
        try:
            self.initdb()
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def initdb(self) -> None:
        self._run(
            "initdb", "-D", self.dir / "data", "-U", "postgres", "-A", "trust",
            "--encoding=UTF8", "--locale=C.UTF-8", log="initdb.log",
        )  # fmt: skip

    def start(self) -> None:
        """Start (or restart) the server on its port; returns when it accepts."""
        self._run(
            "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "server.log", "-w",
            "-o", f"-h 127.0.0.1 -p {self.port} -k {self.dir} {SERVER_OPTIONS}",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `fast` ends the sessions, as a database restart does."""
        self._run("pg_ctl", "-D", self.dir / "data", "-m", mode, "-w", "stop")

    def remove(self) -> None:
        pg_ctl: list[str | Path] = [*self.as_owner, self.bin / "pg_ctl"]
        pg_ctl += ["-D", self.dir / "data"]
        subprocess.run(
            [*pg_ctl, "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.dir, ignore_errors=True)

    def version(self) -> str:
        out = subprocess.run(
            [self.bin / "postgres", "--version"], capture_output=True, text=True
        )
        return out.stdout.split()[2]  # postgres (PostgreSQL) 15.18 ...

    def _run(self, program: str, *args: str | Path, log: str | None = None) -> None:
        result = subprocess.run(
            [*self.as_owner, self.bin / program, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            server_log = self.dir / "server.log"
            details = server_log.read_text() if server_log.exists() else ""
            raise RuntimeError(
                f"{program} failed:\n{result.stdout}{result.stderr}{details}"
            )


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def main(command: list[str]) -> int:
    """Run `command` with DATABASE_URL set to a throwaway cluster."""
    # SIGTERM (a CI time-out, a Ctrl-C elsewhere) still removes the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with Cluster() as cluster:
        print(
            f"with-postgres: throwaway PostgreSQL {cluster.version()}"
            f" on 127.0.0.1:{cluster.port}",
            file=sys.stderr,
        )
        env = {**os.environ, "DATABASE_URL": cluster.url}
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
