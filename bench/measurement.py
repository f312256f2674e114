"""One cell measured: a server under one workload at one concurrency.

The load comes from wrk (bench/wrk/) or, for the gRPC server,
bench/grpc_load.py; CPU seconds come from /proc for the server's process
tree, the PostgreSQL cluster's and the whole machine; memory is the workers'
RSS; refusals are read from the server's log.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import workloads
from servers import BIN, OUT, ROOT, Server, children, proc_stat
from workloads import CHECKOUT_USERS, ETAGS, FRESH_USERS, HOT_USER, USERS

TICKS = os.sysconf("SC_CLK_TCK")
WRK_THREADS = 2


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children."""
    total = 0
    for each in [pid, *children(pid)]:
        try:
            utime, stime, cutime, cstime = map(int, proc_stat(each)[11:15])
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


# Django logs each 4xx/5xx answer:
# "WARNING django.request request_id=... Reason: /path".
_REFUSAL = re.compile(r"(?:WARNING|ERROR) django\.request request_id=\S+ ([^:]+):")


def refusals(log: Path, offset: int) -> dict[str, int]:
    """The non-2xx answers a server logged since `offset`, by reason."""
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    return dict(Counter(_REFUSAL.findall(text)))


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
                *(self.binary, "--threads", str(WRK_THREADS)),
                *("--connections", str(concurrency)),
                *("--duration", f"{seconds}s", "--timeout", "5s"),
                *("--script", f"bench/wrk/{workload}.lua", server.url, "--"),
                *(self.token, str(USERS), ",".join(self.products), HOT_USER),
                *(str(ETAGS), str(FRESH_USERS), str(WRK_THREADS)),
                str(CHECKOUT_USERS),
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


def run_cell(load, server, workload, concurrency, args, connection, postmaster):
    """Warm up, then measure one window; the cell's figures. `connection` is
    to the server's database."""
    workloads.before_warmup(workload, server, load.token, connection, load.products)
    load.run(server, workload, concurrency, args.warmup)
    workloads.before_measuring(workload, connection, load.products)
    load_average = os.getloadavg()[0]
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
        "load_average": load_average,
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
    if check := workloads.after_measuring(workload, connection, result, concurrency):
        cell[workload] = check
    print(
        f"bench: {workload:5} c={concurrency:<3} {server.name:7}"
        f" {cell['rps']:8.0f} req/s  p50 {cell['p50_ms']:6.1f} ms"
        f"  p99 {cell['p99_ms']:6.1f} ms  errors {cell['non_2xx']}"
        f"+{cell['socket_errors']}",
        file=sys.stderr,
    )
    return cell
