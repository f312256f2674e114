"""`make bench-scale`: how a request's cost grows with the data, written to
bench/SCALE.md with its plots (bench/README.md, "Scale").

Run inside scripts/with-postgres (a throwaway cluster in DATABASE_URL). One
database grows from point to point, loaded in bulk by bench/scale_data.py;
the servers, the load and a cell's measurement are `make bench`'s own
(servers.py, measurement.py, wrk/*.lua, floor.py). The curves, in order:

1. carts: add, get and get-304 on the service and the floor at each size;
then, at the largest size:
2. the plans of the hot statements (scale_explain.py);
3. lines: get and add on carts of 1 to 100 lines;
4. side tables: add with a key at 0 and at many stored keys;
5. gRPC: AddItem to existing carts and to new session ids;
6. purge: stale guests purged while a steady load runs.
"""

import argparse
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import scale_data
import servers
import testbed
from measurement import Load, ensure_wrk
from run import FLOOR_GUNICORN
from scale_curves import (
    Scale,
    carts_curve,
    grpc_curve,
    lines_curve,
    purge_curve,
    side_tables_curve,
    stale_guests_load,
)
from scale_explain import cart_plans, django_plans
from scale_report import purge_figures, render
from servers import BIN, OUT, ROOT, manage

SIZES = [10_000, 100_000, 1_000_000]
LINE_COUNTS = [1, 3, 10, 50, 100]
CURVES = ["carts", "lines", "side", "grpc", "purge"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="carts")
    parser.add_argument("--lines", default=",".join(map(str, LINE_COUNTS)))
    parser.add_argument("--side-rows", type=int, default=1_000_000)
    parser.add_argument("--stale-guests", type=int, default=200_000)
    parser.add_argument(
        "--curves",
        default=",".join(CURVES),
        help="the curves measured (the carts are loaded for any); SCALE.md "
        "is written only when all are",
    )
    parser.add_argument(
        "--purge-args", default="", help="options of purge_carts, e.g. --batch-size"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2, help="seconds")
    parser.add_argument("--duration", type=int, default=8, help="seconds")
    parser.add_argument("--output", default=str(ROOT / "bench" / "SCALE.md"))
    parser.set_defaults(profile=False)  # measurement.run_cell's option
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    curves = args.curves.split(",")
    if not set(curves) <= set(CURVES):
        sys.exit(f"bench-scale: --curves takes some of {','.join(CURVES)}")
    if "DATABASE_URL" not in os.environ:
        sys.exit(
            "bench-scale: run me through `make bench-scale` (it gives the database)"
        )
    OUT.mkdir(exist_ok=True)
    binary = ensure_wrk()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY")
        or secrets.token_urlsafe(50),
        # No recycling, and no access log (nginx writes it), as in `make bench`.
        "GUNICORN_MAX_REQUESTS": "0",
        "GUNICORN_ACCESS_LOG": "0",
    }
    started = datetime.now(UTC)
    manage(env, "migrate", "--noinput", "-v", "0")
    connection = psycopg2.connect(os.environ["DATABASE_URL"])
    connection.autocommit = True
    with connection.cursor() as cursor:
        products = scale_data.products_load(cursor)
        token = scale_data.staff_load(cursor)
        # The first cart, which the servers' readiness check reads.
        scale_data.carts_load(cursor, first=1, last=1)
    scale = Scale(args, connection, Load(binary, token, products, 2), env)
    gunicorn = str(BIN / "gunicorn")
    ready = servers.http_ready("/cart/user00001", token)
    with (
        servers.serve(
            "service",
            [gunicorn, "--config", "gunicorn.conf.py"],
            servers.gunicorn_bind,
            env,
            ready,
        ) as service,
        servers.serve(
            "floor",
            [gunicorn, "--pythonpath", "bench", "floor:application", *FLOOR_GUNICORN],
            servers.gunicorn_bind,
            env,
            ready,
        ) as floor,
        servers.serve(
            "grpc",
            [str(BIN / "python"), "manage.py", "grpcserve"],
            servers.grpcserve_bind,
            env,
            servers.grpc_ready,
        ) as grpc_server,
    ):
        points = carts_curve(
            scale, [service, floor], loaded=1, measure="carts" in curves
        )
        largest = points[-1]["carts"]
        plans = cart_plans(
            connection,
            username=f"user{largest // 2:05d}",
            product_id=products[0],
        )
        if "lines" in curves:
            lines_curve(scale, service, floor)
        if "side" in curves:
            side_tables_curve(scale, [service, floor], largest)
        grpc = grpc_curve(scale, grpc_server, largest) if "grpc" in curves else None
        purge = None
        if "purge" in curves:
            stale_guests_load(scale)
            plans += django_plans(env, token=token)
            purge = purge_curve(scale, service, largest)
    report = {
        "started": started,
        "finished": datetime.now(UTC),
        "args": vars(args),
        "machine": testbed.machine(),
        "versions": testbed.versions(connection, binary),
        "service_config": testbed.service_config(env),
        "shared_buffers": scale.sql("SHOW shared_buffers")[0][0],
        "points": points,
        "cells": scale.cells,
        "grpc": grpc,
        "purge": purge,
        "plans": [plan.__dict__ for plan in plans],
    }
    (OUT / "scale.json").write_text(json.dumps(report, default=str, indent=1))
    if set(curves) != set(CURVES):
        if purge:
            print(f"bench-scale: purge {purge_figures(purge)}", file=sys.stderr)
        print(f"bench-scale: wrote {OUT / 'scale.json'}, no SCALE.md", file=sys.stderr)
        return
    Path(args.output).write_text(render(report, Path(args.output).parent))
    print(f"bench-scale: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
