"""Run the benchmark matrix: the service against the floor, and write RESULTS.md.

Run by `make bench` inside scripts/with-postgres (a throwaway cluster whose URL
is in DATABASE_URL). See bench/README.md for what is measured and how.

The parts, each a module of this folder (imported by name: Python puts the
folder of the script it runs first on the path): workloads.py (the seeded
users and what each workload needs around its runs), servers.py (starting
the servers, readiness), measurement.py (one cell: the load, CPU, memory,
refusals), baseline.py (the --baseline revision's files and database),
testbed.py (machine, versions, configurations) and report.py (RESULTS.md).
"""

import argparse
import json
import os
import secrets
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import baseline
import testbed
from events import events_cell
from measurement import Load, ensure_wrk, rss_mib, run_cell, tree_cpu
from report import render
from servers import (
    BIN,
    OUT,
    ROOT,
    citus_cluster,
    grpc_ready,
    grpcserve_bind,
    gunicorn_bind,
    http_ready,
    manage,
    proc_stat,
    serve,
)
from workloads import (
    CATALOG,
    FLOORLESS,
    GRPC_WORKLOADS,
    HOT_USER,
    LAYERED_WORKLOAD,
    LAYERS,
    MAX_QUANTITY,
    WORKLOADS,
    seed,
    serves_checkout,
)

CONCURRENCY = [16, 64]
# What the --citus side runs: the service on a Citus cluster.
CITUS_WORKLOADS = {"add", "get"}
# The floor's best configuration found here (see bench/README.md).
FLOOR_GUNICORN = ["--workers", "3", "--worker-class", "gthread", "--threads", "4"]


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
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the service as it was at git revision REV (bench/README.md)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run the whole matrix this many times, interleaved",
    )
    parser.add_argument(
        "--events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the events cell: webhook deliveries per second (bench/events.py)",
    )
    parser.add_argument(
        "--citus",
        action="store_true",
        help="also the service on a Citus cluster (a coordinator and two workers"
        " in containers: a Docker engine and the citusdata/citus image) for the"
        " add and get workloads",
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
    token = secrets.token_hex(20)
    connection = prepare_database(env, products, token, ROOT)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
        assert row is not None
        postmaster = int(proc_stat(row[0])[1])
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
        ready = http_ready(f"/cart/{HOT_USER}", token)
        service = stack.enter_context(
            serve("service", service_command, gunicorn_bind, env, ready)
        )
        # The floor writes to a database of its own: sharing the service's,
        # its adds would leave the service's carts and tables in another
        # state than a --baseline revision's, which has its own too.
        floor_env = {
            **env,
            "DATABASE_URL": baseline.create_database(
                connection, os.environ["DATABASE_URL"], "bench_floor"
            ),
        }
        floor_connection = prepare_database(floor_env, products, token, ROOT)
        floor = stack.enter_context(
            serve("floor", floor_command, gunicorn_bind, floor_env, ready)
        )
        every_server = [service, floor]
        # Each server's database, for the workloads' own preparations and checks.
        databases = {"service": connection, "floor": floor_connection}
        before = None
        if args.baseline:
            tree = stack.enter_context(baseline.source_tree(args.baseline))
            before_env = {
                **env,
                "DATABASE_URL": baseline.create_database(
                    connection, os.environ["DATABASE_URL"]
                ),
            }
            databases["baseline"] = prepare_database(before_env, products, token, tree)
            before = stack.enter_context(
                serve(
                    "baseline", service_command, gunicorn_bind, before_env, ready, tree
                )
            )
            every_server.append(before)
        cluster = None
        if args.citus:
            cluster = stack.enter_context(citus_cluster())
            citus_env = {**env, "DATABASE_URL": cluster.url}
            databases["citus"] = prepare_database(citus_env, products, token, ROOT)
            every_server.append(
                stack.enter_context(
                    serve("citus", service_command, gunicorn_bind, citus_env, ready)
                )
            )
        if with_grpc:
            grpc_server = stack.enter_context(
                serve("grpc", grpc_command, grpcserve_bind, env, grpc_ready)
            )
            every_server.append(grpc_server)
        layer_servers = []
        if args.layers and LAYERED_WORKLOAD in workloads:
            layer_servers = [
                stack.enter_context(serve(layer, command, gunicorn_bind, env, ready))
                for layer, command in layer_commands.items()
            ]
            every_server += layer_servers
        for server in every_server:
            server.rss_first = rss_mib(server.workers())
        before_checkout = before is not None and serves_checkout(before, token)
        matrix = [
            (workload, concurrency) for workload in workloads for concurrency in levels
        ]
        # Interleaved, and the order rotates from cell to cell and from round
        # to round, so that a burst of outside load does not always hit the
        # same side.
        for number, (round_number, (workload, concurrency)) in enumerate(
            (round_number, cell)
            for round_number in range(args.repeats)
            for cell in matrix
        ):
            sides = [service]
            if workload not in FLOORLESS:
                sides.append(floor)
            if before and (workload != "checkout" or before_checkout):
                sides.append(before)
            if with_grpc and workload in GRPC_WORKLOADS:
                sides.append(grpc_server)
            if workload == LAYERED_WORKLOAD:
                sides += layer_servers
            if cluster and workload in CITUS_WORKLOADS:
                sides += [server for server in every_server if server.name == "citus"]
            shift = number % len(sides)
            for server in sides[shift:] + sides[:shift]:
                if server.name == "citus":
                    cell = citus_cell(
                        load, server, workload, concurrency, args, databases, cluster
                    )
                else:
                    cell = run_cell(
                        load,
                        server,
                        workload,
                        concurrency,
                        args,
                        databases.get(server.name, connection),
                        postmaster,
                    )
                cells.append({**cell, "round": round_number})
        rss = {
            server.name: (server.rss_first, rss_mib(server.workers()))
            for server in every_server
        }
    # Alone, after the servers stopped.
    events = events_cell(env, connection) if args.events else None
    report = {
        "events": events,
        "started": started,
        "finished": datetime.now(UTC),
        "load": (load_before, os.getloadavg()),
        "cells": cells,
        "rss": rss,
        "versions": testbed.versions(connection, binary),
        "service_config": testbed.service_config(env),
        "grpc_config": testbed.grpc_config(args) if with_grpc else None,
        "floor_config": " ".join(floor_command[3:]),
        "args": args,
        "baseline": baseline.describe(args.baseline) if args.baseline else None,
    }
    (OUT / "results.json").write_text(json.dumps(report, default=str, indent=1))
    Path(args.output).write_text(render(report))
    print(f"bench: wrote {args.output}", file=sys.stderr)


def citus_cell(load, server, workload, concurrency, args, databases, cluster):
    """A cell of the service on the Citus cluster: its database CPU is the
    coordinator's, `cpu_cluster` the coordinator's and the workers'."""
    postmasters = cluster.postmasters()
    before = sum(map(tree_cpu, postmasters))
    cell = run_cell(
        load, server, workload, concurrency, args, databases["citus"], postmasters[0]
    )
    return {**cell, "cpu_cluster": sum(map(tree_cpu, postmasters)) - before}


def prepare_database(env: dict, products: list[str], token: str, project: Path):
    """The database of env's DATABASE_URL migrated by `project`'s code (ours
    or a --baseline revision's), with the catalog and the seeded users; an
    autocommit connection to it."""
    manage(env, "migrate", "--noinput", "-v", "0", cwd=project)
    manage(env, "loaddata", "catalog", "-v", "0", cwd=project)
    connection = baseline.connect(env["DATABASE_URL"])
    seed(connection, products, token)
    return connection


if __name__ == "__main__":
    main()
