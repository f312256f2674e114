"""Run the benchmark matrix: the service against the floor, and write RESULTS.md.

Run by `make bench` inside scripts/with-postgres (a throwaway cluster whose URL
is in DATABASE_URL). See bench/README.md for what is measured and how.
"""

import argparse
import json
import os
import platform
import re
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psycopg2
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
OUT = ROOT / "bench" / "out"
ETAGS = OUT / "etags.txt"
CATALOG = ROOT / "carts" / "fixtures" / "catalog.json"
TICKS = os.sysconf("SC_CLK_TCK")
USERS = 10_000
HOT_USER = "user00001"
STAFF = "bench-staff"
# The hot line takes every add of a run; the default limit (1000) would refuse
# most of them. Service and floor get the same limit.
MAX_QUANTITY = 1_000_000_000
WORKLOADS = ["add", "get", "mixed", "hot", "add-key", "get-304"]
# get-304 polls these users' carts with their current ETags (bench/out/etags.txt).
POLLED_USERS = 500
# The workloads the gRPC server runs too (AddItem, GetCart), next to REST's.
GRPC_WORKLOADS = {"add", "get"}
CONCURRENCY = [16, 64]
# The service's get, also answered with less of its work (bench/layers.py).
LAYERED_WORKLOAD = "get"
LAYERS = ("django", "query", "drf")
# The floor's best configuration found here (see bench/README.md).
FLOOR_GUNICORN = ["--workers", "3", "--worker-class", "gthread", "--threads", "4"]


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


# ---------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------
def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 on


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children."""
    total = 0
    for each in [pid, *children(pid)]:
        try:
            utime, stime, cutime, cstime = map(int, _stat(each)[11:15])
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += utime + stime + cutime + cstime
    return total / TICKS


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores)."""
    fields = list(map(int, Path("/proc/stat").read_text().split("\n")[0].split()[1:]))
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICKS


def rss_mib(pids: list[int]) -> dict[int, float]:
    sizes = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        rss = re.search(r"VmRSS:\s+(\d+)", status)
        if rss:  # not a kernel thread
            sizes[pid] = int(rss[1]) / 1024
    return sizes


# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            sys.exit("bench: wrk is missing; install the Debian package 'wrk'")
        print("bench: installing wrk (apt-get install wrk)", file=sys.stderr)
        apt = ["apt-get", "-qq", "-o", "DPkg::Lock::Timeout=300"]
        subprocess.run([*apt, "update"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*apt, "install", "-y", "--no-install-recommends", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdout=subprocess.DEVNULL,
        )
    return shutil.which("wrk") or sys.exit("bench: wrk did not install")


def manage(env: dict, *args: str) -> None:
    subprocess.run([BIN / "python", "manage.py", *args], cwd=ROOT, env=env, check=True)


def seed(connection, products: list[str]) -> str:
    """10,000 users with 3 lines each (and their cart rows) and a staff
    account; returns its token."""
    token = secrets.token_hex(20)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO carts_user (password, is_superuser, username, first_name,
              last_name, email, is_staff, is_active, date_joined)
            SELECT '!', false, 'user' || lpad(i::text, 5, '0'), '', '', '',
              false, true, now()
            FROM generate_series(1, %(users)s) i;
            INSERT INTO carts_cartitem (user_id, product_id, quantity,
              created_at, updated_at)
            SELECT u.id, (%(products)s::text[])[1 + (u.id + 3 * k) %% 9], 1 + k,
              now() + k * interval '1 millisecond',
              now() + k * interval '1 millisecond'
            FROM carts_user u, generate_series(0, 2) k;
            INSERT INTO carts_cart (user_id, version, updated_at)
            SELECT id, 1, now() FROM carts_user;
            INSERT INTO carts_user (password, is_superuser, username, first_name,
              last_name, email, is_staff, is_active, date_joined)
            VALUES ('!', false, %(staff)s, '', '', '', true, true, now());
            INSERT INTO authtoken_token (key, user_id, created)
            SELECT %(token)s, id, now() FROM carts_user WHERE username = %(staff)s;
            ANALYZE;
            """,
            {"users": USERS, "products": products, "staff": STAFF, "token": token},
        )
    return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_bind(port: int) -> list[str]:
    return ["--bind", f"127.0.0.1:{port}"]


def grpcserve_bind(port: int) -> list[str]:
    return ["--bind", "127.0.0.1", "--port", str(port)]


@contextmanager
def serve(name: str, command: list[str], bind, env: dict, ready):
    """Run `command` plus `bind(port)` until the end; `ready(server)` says
    when it serves."""
    port = free_port()
    log = (OUT / f"{name}.log").open("w")
    process = subprocess.Popen(
        [*command, *bind(port)],
        cwd=ROOT,
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


def http_ready(token: str):
    def ready(server: Server) -> bool:
        request = urllib.request.Request(
            f"{server.url}/cart/{HOT_USER}",
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


# ---------------------------------------------------------------------------
# One cell
# ---------------------------------------------------------------------------
@dataclass
class Load:
    binary: str
    token: str
    products: list[str]
    grpc_processes: int

    def run(self, server: Server, workload: str, concurrency: int, seconds: int):
        """The load generator's summary (wrk's, or bench/grpc_load.py's for
        the gRPC server), with its own CPU seconds (from wait4)."""
        if server.name == "grpc":
            command = [
                *(str(BIN / "python"), "-m", "bench.grpc_load", server.address),
                *(workload, str(concurrency), str(seconds), str(USERS)),
                ",".join(self.products),
                *("--processes", str(self.grpc_processes)),
            ]
        else:
            command = [
                *(self.binary, "--threads", "2", "--connections", str(concurrency)),
                *("--duration", f"{seconds}s", "--timeout", "5s"),
                *("--script", f"bench/wrk/{workload}.lua", server.url, "--"),
                *(self.token, str(USERS), ",".join(self.products), HOT_USER),
                str(ETAGS),
            ]
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        watchdog = threading.Timer(seconds + 30, process.kill)
        watchdog.start()
        assert process.stdout is not None  # stdout=PIPE
        try:
            output = process.stdout.read().decode()
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
            process.stdout.close()
        process.returncode = os.waitstatus_to_exitcode(status)
        match = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
        if process.returncode or not match:
            sys.exit(f"bench: {command[0]} failed:\n{output}")
        return {**json.loads(match[1]), "wrk_cpu": usage.ru_utime + usage.ru_stime}


def hot_line_quantity(connection, reset: bool = False) -> int:
    with connection.cursor() as cursor:
        if reset:
            cursor.execute(
                "DELETE FROM carts_cartitem WHERE user_id ="
                " (SELECT id FROM carts_user WHERE username = %s)",
                [HOT_USER],
            )
            return 0
        cursor.execute(
            "SELECT COALESCE(SUM(quantity), 0) FROM carts_cartitem c"
            " JOIN carts_user u ON u.id = c.user_id WHERE u.username = %s",
            [HOT_USER],
        )
        return cursor.fetchone()[0]


def profile(server, workload, concurrency, args) -> subprocess.Popen:
    """py-spy samples every worker through the measured window (--profile)."""
    output = OUT / f"profile-{server.name}-{workload}-{concurrency}.txt"
    return subprocess.Popen(
        [
            *(BIN / "py-spy", "record", "--pid", str(server.process.pid)),
            *("--subprocesses", "--nonblocking", "--rate", "250", "--format"),
            *("raw", "--duration", str(args.duration), "--output", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fetch_etags(server: Server, token: str) -> None:
    """The current ETag of each polled cart, for get-304 (bench/wrk/get-304.lua)."""
    lines = []
    for number in range(1, POLLED_USERS + 1):
        user = f"user{number:05d}"
        request = urllib.request.Request(
            f"{server.url}/cart/{user}", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            lines.append(f"{user} {response.headers['ETag']}\n")
    ETAGS.write_text("".join(lines))


def run_cell(load, server, workload, concurrency, args, connection, postmaster):
    if workload == "get-304":
        fetch_etags(server, load.token)
    load.run(server, workload, concurrency, args.warmup)
    if workload == "hot":
        time.sleep(0.5)  # requests the warm-up left in flight
        hot_line_quantity(connection, reset=True)
    rss_before = rss_mib(server.workers())
    profiler = profile(server, workload, concurrency, args) if args.profile else None
    log_offset = server.log.stat().st_size
    before = (tree_cpu(server.process.pid), tree_cpu(postmaster), machine_cpu())
    result = load.run(server, workload, concurrency, args.duration)
    after = (tree_cpu(server.process.pid), tree_cpu(postmaster), machine_cpu())
    rss_after = rss_mib(server.workers())
    if profiler:
        profiler.wait(timeout=60)
    server_cpu, database_cpu, machine = (
        b - a for a, b in zip(before, after, strict=True)
    )
    seconds = result["duration_us"] / 1e6
    cell = {
        "server": server.name,
        "workload": workload,
        "concurrency": concurrency,
        "rps": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "non_2xx": result["status"],
        "socket_errors": sum(
            result[kind] for kind in ("connect", "read", "write", "timeout")
        ),
        "requests": result["requests"],
        "cpu_server": server_cpu,
        "cpu_database": database_cpu,
        "cpu_wrk": result["wrk_cpu"],  # the load generator's: wrk or grpc_load
        "cpu_other": machine - server_cpu - database_cpu - result["wrk_cpu"],
        "seconds": seconds,
        "rss_before": max(rss_before.values()),
        "rss_after": max(rss_after.values()),
        "workers_replaced": len(set(rss_before) - set(rss_after)),
        "refusals": refusals(server.log, log_offset),
    }
    if workload == "hot":
        time.sleep(0.5)
        final = hot_line_quantity(connection)
        cell["hot"] = {
            "final": final,
            "ok": result["hot_ok"],
            "distinct": result["hot_distinct"],
            "largest": result["hot_largest"],
            # wrk stops at its deadline without waiting for the answers in
            # flight; the server still commits those adds (at most one per
            # connection), so they are in the final quantity, unseen by wrk.
            "passed": result["hot_ok"] == result["hot_distinct"]
            and result["hot_largest"] <= final <= result["hot_ok"] + concurrency,
        }
    print(
        f"bench: {workload:5} c={concurrency:<3} {server.name:7}"
        f" {cell['rps']:8.0f} req/s  p50 {cell['p50_ms']:6.1f} ms"
        f"  p99 {cell['p99_ms']:6.1f} ms  errors {cell['non_2xx']}"
        f"+{cell['socket_errors']}",
        file=sys.stderr,
    )
    return cell


# ---------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--warmup", type=int, default=3, help="seconds")
    parser.add_argument("--duration", type=int, default=10, help="seconds")
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the service, e.g. GUNICORN_WORKERS=3",
    )
    parser.add_argument(
        "--floor-gunicorn",
        default=" ".join(FLOOR_GUNICORN),
        help="gunicorn options for the floor",
    )
    parser.add_argument(
        "--grpc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="gRPC cells (manage.py grpcserve) for the add and get workloads",
    )
    parser.add_argument(
        "--grpc-client-processes",
        type=int,
        default=2,
        help="processes of the gRPC load generator (bench/grpc_load.py)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles into bench/out/ (pip install py-spy)",
    )
    parser.add_argument(
        "--layers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="get also against the service with less of its work (bench/layers.py)",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("bench: run me through `make bench` (it provides the database)")
    OUT.mkdir(exist_ok=True)
    binary = ensure_wrk()
    products = [item["pk"] for item in json.loads(CATALOG.read_text())]
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY")
        or secrets.token_urlsafe(50),
        "CART_MAX_LINE_QUANTITY": str(MAX_QUANTITY),
        # No recycling during the run, so that a leak would show in the RSS.
        "GUNICORN_MAX_REQUESTS": "0",
        # As in the compose topology, where nginx writes the access line.
        "GUNICORN_ACCESS_LOG": "0",
    }
    env.update(item.split("=", 1) for item in args.service_env)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "loaddata", "catalog", "-v", "0")
    connection = psycopg2.connect(os.environ["DATABASE_URL"])
    connection.autocommit = True
    token = seed(connection, products)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
        assert row is not None
        postmaster = int(_stat(row[0])[1])
    load = Load(binary, token, products, args.grpc_client_processes)
    gunicorn = str(BIN / "gunicorn")
    service_command = [gunicorn, "--config", "gunicorn.conf.py"]
    floor_command = [gunicorn, "--pythonpath", "bench", "floor:application"]
    floor_command += args.floor_gunicorn.split()
    grpc_command = [str(BIN / "python"), "manage.py", "grpcserve"]
    # The service's gunicorn settings, with less of its work (bench/layers.py).
    layer_commands = {
        layer: [*service_command, "--pythonpath", "bench", f'layers:app("{layer}")']
        for layer in LAYERS
    }
    workloads = args.workloads.split(",")
    with_grpc = args.grpc and bool(GRPC_WORKLOADS & set(workloads))
    levels = [int(level) for level in args.concurrency.split(",")]
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    cells = []
    with ExitStack() as stack:
        ready = http_ready(token)
        service = stack.enter_context(
            serve("service", service_command, gunicorn_bind, env, ready)
        )
        floor = stack.enter_context(
            serve("floor", floor_command, gunicorn_bind, env, ready)
        )
        servers = [service, floor]
        if with_grpc:
            grpc_server = stack.enter_context(
                serve("grpc", grpc_command, grpcserve_bind, env, grpc_ready)
            )
            servers.append(grpc_server)
        layer_servers = []
        if args.layers and LAYERED_WORKLOAD in workloads:
            layer_servers = [
                stack.enter_context(serve(layer, command, gunicorn_bind, env, ready))
                for layer, command in layer_commands.items()
            ]
            servers += layer_servers
        for server in servers:
            server.rss_first = rss_mib(server.workers())
        # Interleaved, and the order rotates from cell to cell, so that a
        # burst of outside load does not always hit the same side.
        for number, (workload, concurrency) in enumerate(
            (workload, concurrency) for workload in workloads for concurrency in levels
        ):
            sides = [service, floor]
            if with_grpc and workload in GRPC_WORKLOADS:
                sides.append(grpc_server)
            if workload == LAYERED_WORKLOAD:
                sides += layer_servers
            shift = number % len(sides)
            for server in sides[shift:] + sides[:shift]:
                cells.append(
                    run_cell(
                        load,
                        server,
                        workload,
                        concurrency,
                        args,
                        connection,
                        postmaster,
                    )
                )
        rss = {
            server.name: (server.rss_first, rss_mib(server.workers()))
            for server in servers
        }
    report = {
        "started": started,
        "finished": datetime.now(UTC),
        "load": (load_before, os.getloadavg()),
        "cells": cells,
        "rss": rss,
        "versions": versions(connection, binary),
        "service_config": service_config(env),
        "grpc_config": grpc_config(args) if with_grpc else None,
        "floor_config": " ".join(floor_command[3:]),
        "args": args,
    }
    (OUT / "results.json").write_text(json.dumps(report, default=str, indent=1))
    Path(args.output).write_text(render(report))
    print(f"bench: wrote {args.output}", file=sys.stderr)


def versions(connection, binary: str) -> dict[str, str]:
    from importlib.metadata import version

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    wrk_version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True
    ).stdout.split()[1]
    found = {"Python": platform.python_version(), "PostgreSQL": postgres}
    for package in (
        *("Django", "djangorestframework", "gunicorn", "psycopg2-binary"),
        *("grpcio", "protobuf"),
    ):
        found[package] = version(package)
    found["wrk"] = wrk_version
    return found


def service_config(env: dict) -> str:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return (
        f"gunicorn.conf.py: {config['workers']} workers, "
        f"worker class {config['worker_class']}, {config['threads']} thread(s), "
        f"keepalive {config['keepalive']} s, access log "
        f"{'on' if config['accesslog'] else 'off (as behind nginx)'}, "
        "max_requests 0 (no recycling: a leak would show); DJANGO_DEBUG off"
    )


def grpc_config(args) -> str:
    started = re.search(
        r"\((\d+ threads, \d+ using the database at once)\)",
        (OUT / "grpc.log").read_text(),
    )
    return (
        f"manage.py grpcserve: one process ({started[1] if started else '?'}),"
        " access log on;"
        f" load from bench/grpc_load.py, {args.grpc_client_processes} processes"
        " (grpc.aio, one HTTP/2 channel each), called as Online Boutique's"
        " front end calls it (no credentials)"
    )


# ---------------------------------------------------------------------------
# RESULTS.md
# ---------------------------------------------------------------------------
def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    memory = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return (
        f"{os.cpu_count()} cores ({model[1] if model else 'unknown CPU'}), "
        f"{int(memory[1]) / 2**20 if memory else 0:.0f} GiB, Linux {platform.release()}"
    )


# Issue 14's targets: the service's share of the machine next to the floor's.
MIN_THROUGHPUT_RATIO = 0.70
MAX_P99_RATIO = 3.0
MAX_SERVER_CPU_RATIO = 1.4


def server_cpu_ms(cell: dict) -> float:
    """Server CPU (gunicorn master and workers) per answered request, in ms."""
    return 1000 * cell["cpu_server"] / cell["requests"]


def meets(service: dict, floor: dict) -> str:
    failed = []
    if service["rps"] < MIN_THROUGHPUT_RATIO * floor["rps"]:
        failed.append("throughput")
    if server_cpu_ms(service) > MAX_SERVER_CPU_RATIO * server_cpu_ms(floor):
        failed.append("server CPU")
    if service["non_2xx"] or service["socket_errors"]:
        failed.append("errors")
    if service["p99_ms"] > MAX_P99_RATIO * floor["p99_ms"]:
        failed.append("p99")
    if service.get("hot") and not service["hot"]["passed"]:
        failed.append("hot count")
    return "yes" if not failed else "**no**: " + ", ".join(failed)


def render(report: dict) -> str:
    cells = report["cells"]
    pairs: dict[tuple[str, int], dict[str, dict]] = {}
    for cell in cells:
        pairs.setdefault((cell["workload"], cell["concurrency"]), {})[
            cell["server"]
        ] = cell
    args = report["args"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py); how to read it: bench/README.md.",
        "",
        f"- When: {report['started']:%Y-%m-%d %H:%M} to {report['finished']:%H:%M} UTC",
        f"- Machine: {machine()}; load average {report['load'][0][0]:.2f} before,"
        f" {report['load'][1][0]:.2f} after",
        "- Versions: "
        + ", ".join(f"{name} {number}" for name, number in report["versions"].items()),
        f"- Service: {report['service_config']}",
        f"- Floor: bench/floor.py under gunicorn `{report['floor_config']}`",
        *([f"- gRPC: {report['grpc_config']}"] if report.get("grpc_config") else []),
        f"- Load: wrk, 2 threads, {args.warmup} s warm-up then {args.duration} s"
        " measured per cell; service and floor interleaved, alternating which"
        " goes first; 10,000 users with 3 lines each; the service is called"
        " with a staff token",
        "",
        "## Throughput and latency",
        "",
        "| workload | conc. | service req/s | floor req/s | service ÷ floor"
        " | service p50 / p99 ms | floor p50 / p99 ms | p99 ÷ floor"
        " | server CPU ms/req service / floor | CPU ÷ floor"
        " | errors service / floor | targets met |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for (workload, concurrency), pair in pairs.items():
        service, floor = pair["service"], pair["floor"]
        lines.append(
            f"| {workload} | {concurrency} | {service['rps']:.0f} | {floor['rps']:.0f}"
            f" | {service['rps'] / floor['rps']:.0%}"
            f" | {service['p50_ms']:.1f} / {service['p99_ms']:.1f}"
            f" | {floor['p50_ms']:.1f} / {floor['p99_ms']:.1f}"
            f" | {service['p99_ms'] / floor['p99_ms']:.1f}x"
            f" | {server_cpu_ms(service):.2f} / {server_cpu_ms(floor):.2f}"
            f" | {server_cpu_ms(service) / server_cpu_ms(floor):.2f}x"
            f" | {errors(service)} / {errors(floor)} | {meets(service, floor)} |"
        )
    lines += [
        "",
        "Errors are non-2xx answers + socket errors (connect, read, write,"
        " timeout). Server CPU is the gunicorn master's and workers' CPU time"
        " in the measured window per answered request. Targets (issue 14):"
        f" throughput ≥ {MIN_THROUGHPUT_RATIO:.0%} of the floor's, server CPU"
        f" per request ≤ {MAX_SERVER_CPU_RATIO} x the floor's, no error,"
        f" p99 ≤ {MAX_P99_RATIO:.0f} x the floor's (and, under `hot`, the count"
        " check below).",
        "",
        *refusals_lines(cells),
        *grpc_table(pairs),
        *layers_table(pairs),
        "## CPU and memory during the measured window",
        "",
        "CPU seconds over the measured window, from /proc: the server (the"
        " gunicorn master and its workers, or the gRPC server), the PostgreSQL"
        " cluster, the load generator (wrk, or bench/grpc_load.py's processes),"
        " and everything else on the machine (other people's work: the noise)."
        " ms/req is server + database CPU per request.",
        "",
        "| workload | conc. | side | server s | postgres s | load s | other s"
        " | ms/req | worker RSS MiB before → after |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|",
    ]
    for cell in cells:
        per_request = (cell["cpu_server"] + cell["cpu_database"]) / cell["requests"]
        lines.append(
            f"| {cell['workload']} | {cell['concurrency']} | {cell['server']}"
            f" | {cell['cpu_server']:.1f} | {cell['cpu_database']:.1f}"
            f" | {cell['cpu_wrk']:.1f} | {cell['cpu_other']:.1f}"
            f" | {per_request * 1000:.2f}"
            f" | {cell['rss_before']:.1f} → {cell['rss_after']:.1f} |"
        )
    lines += ["", "Largest worker RSS over the whole run (MiB):", ""]
    for name, (first, last) in report["rss"].items():
        lines.append(
            f"- {name}: {max(first.values()):.1f} before the first cell,"
            f" {max(last.values()):.1f} after the last"
            f" ({len(set(first) - set(last))} of {len(first)} workers replaced)"
        )
    lines += [
        "",
        "## The hot line",
        "",
        "Every add of a `hot` run goes to one line, reset before the measured"
        " window. Each successful add answers with the line's new quantity;"
        " no lost update means these are all distinct, and the final quantity"
        " is their count plus the adds still in flight when wrk stopped (it"
        " does not wait for them; at most one per connection).",
        "",
        "| conc. | side | successful adds | distinct quantities | final quantity"
        " | in flight at stop | check |",
        "|--:|---|--:|--:|--:|--:|---|",
    ]
    for cell in cells:
        if hot := cell.get("hot"):
            lines.append(
                f"| {cell['concurrency']} | {cell['server']} | {hot['ok']}"
                f" | {hot['distinct']} | {hot['final']} | {hot['final'] - hot['ok']}"
                f" | {'passed' if hot['passed'] else '**failed**'} |"
            )
    return "\n".join(lines) + "\n"


def grpc_table(pairs: dict) -> list[str]:
    """The gRPC cells next to the REST service's (no floor of their own: the
    REST floor does the same database work)."""
    rows = [
        (workload, concurrency, pair["grpc"], pair["service"], pair["floor"])
        for (workload, concurrency), pair in pairs.items()
        if "grpc" in pair
    ]
    if not rows:
        return []
    lines = [
        "## gRPC (hipstershop.CartService) next to REST",
        "",
        "`add` is AddItem, `get` is GetCart, on the same users and products;"
        ' the gRPC server is one process (bench/README.md, "gRPC").',
        "",
        "| workload | conc. | gRPC calls/s | REST service req/s | gRPC ÷ REST"
        " | gRPC ÷ floor | gRPC p50 / p99 ms | REST p50 / p99 ms | gRPC errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workload, concurrency, grpc_cell, service, floor in rows:
        lines.append(
            f"| {workload} | {concurrency} | {grpc_cell['rps']:.0f}"
            f" | {service['rps']:.0f} | {grpc_cell['rps'] / service['rps']:.0%}"
            f" | {grpc_cell['rps'] / floor['rps']:.0%}"
            f" | {grpc_cell['p50_ms']:.1f} / {grpc_cell['p99_ms']:.1f}"
            f" | {service['p50_ms']:.1f} / {service['p99_ms']:.1f}"
            f" | {errors(grpc_cell)} |"
        )
    return [*lines, ""]


def layers_table(pairs: dict) -> list[str]:
    """The service's get next to the same request path with less of its work
    (bench/layers.py), all under the same gunicorn settings."""
    rows = [
        (concurrency, pair)
        for (workload, concurrency), pair in pairs.items()
        if workload == LAYERED_WORKLOAD and set(LAYERS) <= set(pair)
    ]
    if not rows:
        return []
    lines = [
        "## Where a `get` spends the server's CPU",
        "",
        "The same request, answered by: the floor; a plain Django view with a"
        " constant body behind the service's middleware (no DRF, token check"
        " or query); a plain Django view that reads and renders the cart as"
        " the service does (no DRF, no token check); a view of the service's"
        " own with its token check,"
        " permissions and throttles through DRF, answering a constant cart"
        " (no query); the service. Same gunicorn settings (bench/layers.py).",
        "",
        "| conc. | answered by | req/s | server CPU ms/req | ÷ floor |",
        "|--:|---|--:|--:|--:|",
    ]
    names = {
        "floor": "floor (bare WSGI + the query)",
        "django": "Django view, constant answer",
        "query": "Django view + the cart's query, no DRF or token check",
        "drf": "DRF + token check, constant answer",
        "service": "the service",
    }
    for concurrency, pair in rows:
        floor_cpu = server_cpu_ms(pair["floor"])
        for name, label in names.items():
            cpu = server_cpu_ms(pair[name])
            lines.append(
                f"| {concurrency} | {label} | {pair[name]['rps']:.0f}"
                f" | {cpu:.2f} | {cpu / floor_cpu:.2f}x |"
            )
    return [*lines, ""]


# Django logs each 4xx/5xx answer:
# "WARNING django.request request_id=... Reason: /path".
_REFUSAL = re.compile(r"(?:WARNING|ERROR) django\.request request_id=\S+ ([^:]+):")


def refusals(log: Path, offset: int) -> dict[str, int]:
    """The non-2xx answers a server logged since `offset`, by reason."""
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    return dict(Counter(_REFUSAL.findall(text)))


def refusals_lines(cells: list[dict]) -> list[str]:
    lines = [
        f"- {cell['server']}, {cell['workload']} at {cell['concurrency']}: "
        + ", ".join(f"{reason}: {count}" for reason, count in cell["refusals"].items())
        for cell in cells
        if cell.get("refusals")
    ]
    if not lines:
        return []
    return ["Non-2xx answers by reason, from the server's log:", "", *lines, ""]


def errors(cell: dict) -> str:
    return f"{cell['non_2xx'] + cell['socket_errors']}"


if __name__ == "__main__":
    main()
