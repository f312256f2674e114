"""What a run ran on and with, for RESULTS.md's header: the machine, the
versions, and the servers' configurations."""

import os
import platform
import re
import runpy
import subprocess
from importlib.metadata import version
from pathlib import Path

from servers import OUT, ROOT


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    memory = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return (
        f"{os.cpu_count()} cores ({model[1] if model else 'unknown CPU'}), "
        f"{int(memory[1]) / 2**20 if memory else 0:.0f} GiB, Linux {platform.release()}"
    )


def versions(connection, binary: str) -> dict[str, str]:
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
