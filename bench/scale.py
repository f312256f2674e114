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
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import measurement
import psycopg2
import scale_data
import servers
import testbed
from measurement import Load, ensure_wrk, refusals, run_cell
from run import FLOOR_GUNICORN
from scale_explain import cart_plans, django_plans
from scale_report import render
from servers import BIN, OUT, ROOT, Server, manage, proc_stat

SIZES = [10_000, 100_000, 1_000_000]
CART_WORKLOADS = ["add", "get", "get-304"]
LINE_COUNTS = [1, 3, 10, 50, 100]
# The carts the lines curve reshapes (user00001..) and its load draws from.
LINE_CARTS = 1_000
# gRPC ids drawn from user00001..user200000000 are almost all unknown (a
# new guest and cart each); SCALE.md gives the share that existed.
NEW_IDS = 200_000_000
# The purge curve's live load: windows this long, before, during and after.
PURGE_WINDOW = 5
WINDOWS_BEFORE_AND_AFTER = 3
# What SCALE.md reports sizes of.
TABLES = [
    "carts_user",
    "authtoken_token",
    "carts_cart",
    "carts_cartitem",
    "carts_idempotencyrecord",
]


@dataclass(frozen=True)
class SideTable:
    """A table that fills as the shop runs, and the workload that writes it:
    measured empty and holding `rows` rows."""

    name: str
    table: str
    workload: str
    fill: Callable[..., None]


# The events issue's outbox is one more entry here: its table, `add`, and a
# loader of outbox rows in scale_data.py.
SIDE_TABLES = [
    SideTable(
        "stored Idempotency-Key answers",
        "carts_idempotencyrecord",
        "add-key",
        lambda cursor, rows: scale_data.idempotency_records_load(cursor, count=rows),
    ),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="carts")
    parser.add_argument("--lines", default=",".join(map(str, LINE_COUNTS)))
    parser.add_argument("--side-rows", type=int, default=1_000_000)
    parser.add_argument("--stale-guests", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2, help="seconds")
    parser.add_argument("--duration", type=int, default=8, help="seconds")
    parser.add_argument("--output", default=str(ROOT / "bench" / "SCALE.md"))
    parser.set_defaults(profile=False)  # measurement.run_cell's option
    return parser.parse_args()


class Scale:
    """The database, the servers and the load of one run, and its cells."""

    def __init__(self, args, connection, load: Load, env: dict) -> None:
        self.args = args
        self.connection = connection
        self.load = load
        self.env = env
        self.cells: list[dict] = []
        ((backend,),) = self.sql("SELECT pg_backend_pid()")
        self.postmaster = int(proc_stat(backend)[1])

    def sql(self, text: str, params=None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(text, params)
            return cursor.fetchall() if cursor.description else []

    def cell(
        self,
        curve: str,
        point: int,
        server: Server,
        workload: str,
        *,
        users: int,
        products: list[str] | None = None,
    ) -> dict:
        # wrk's and grpc_load's users are user00001..USERS.
        measurement.USERS = users
        load = replace(self.load, products=products or self.load.products)
        load_average = os.getloadavg()[0]
        cell = run_cell(
            load,
            server,
            workload,
            self.args.concurrency,
            self.args,
            self.connection,
            self.postmaster,
        )
        cell |= {"curve": curve, "point": point, "load_average": load_average}
        self.cells.append(cell)
        return cell

    def settle(self, tables: list[str]) -> None:
        """After a bulk load: statistics and visibility maps up to date, and
        the load's writes flushed now rather than during the next cells."""
        self.sql("VACUUM (ANALYZE) " + ", ".join(tables))
        self.sql("CHECKPOINT")

    def cache_blocks(self) -> tuple[int, int]:
        """Blocks the database found in shared buffers, and read (from the
        OS's cache or the disk), so far."""
        time.sleep(1.1)  # backends publish their counts at most once a second
        ((hit, read),) = self.sql(
            "SELECT blks_hit, blks_read FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
        return hit, read

    def relation_sizes(self) -> dict[str, dict]:
        rows = self.sql(
            "SELECT relname, pg_table_size(oid), pg_indexes_size(oid)"
            " FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [TABLES],
        )
        return {name: {"table": table, "indexes": index} for name, table, index in rows}


def carts_curve(scale: Scale, sides: list[Server], loaded: int) -> list[dict]:
    """Each size: its data loaded on top of the `loaded` carts there are,
    then every workload on the service and the floor."""
    points = []
    for size in map(int, scale.args.sizes.split(",")):
        started = time.monotonic()
        with scale.connection.cursor() as cursor:
            scale_data.carts_load(cursor, first=loaded + 1, last=size)
        loaded = size
        scale.settle(TABLES)
        load_seconds = time.monotonic() - started
        with scale.connection.cursor() as cursor:
            shape = scale_data.shape(cursor)
        hit, read = scale.cache_blocks()
        load_average = os.getloadavg()[0]
        for workload in CART_WORKLOADS:
            for server in sides:
                scale.cell("carts", size, server, workload, users=size)
        hit_after, read_after = scale.cache_blocks()
        points.append(
            {
                "carts": size,
                "load_seconds": load_seconds,
                "load_average": load_average,
                "shape": shape,
                "sizes": scale.relation_sizes(),
                "cache_hit": (hit_after - hit)
                / max(1, hit_after - hit + read_after - read),
            }
        )
        print(f"bench-scale: {size} carts measured", file=sys.stderr)
    return points


def lines_curve(scale: Scale, service: Server, floor: Server) -> None:
    """get (service and floor) and add (service) on carts of each line count;
    every add goes to a line the cart has, so the count holds."""
    for lines in map(int, scale.args.lines.split(",")):
        with scale.connection.cursor() as cursor:
            scale_data.cart_lines_set(cursor, users=LINE_CARTS, lines=lines)
        scale.sql("VACUUM carts_cartitem, carts_cart")
        products = scale_data.PRODUCTS[:lines]
        for server, workload in ((service, "get"), (floor, "get"), (service, "add")):
            scale.cell(
                "lines", lines, server, workload, users=LINE_CARTS, products=products
            )
    with scale.connection.cursor() as cursor:
        scale_data.cart_lines_set(cursor, users=LINE_CARTS, lines=scale_data.LINES)


def side_tables_curve(scale: Scale, sides: list[Server], users: int) -> None:
    rows = scale.args.side_rows
    for side in SIDE_TABLES:
        scale.sql(f"TRUNCATE {side.table}")
        for stored in (0, rows):
            if stored:
                with scale.connection.cursor() as cursor:
                    side.fill(cursor, stored)
                scale.settle([side.table])
            for server in sides:
                cell = scale.cell("side", stored, server, side.workload, users=users)
                cell["side_table"] = side.name


def grpc_curve(scale: Scale, grpc_server: Server, users: int) -> dict:
    """AddItem to existing carts, then to (almost all) new session ids."""
    scale.cell("grpc", 0, grpc_server, "add", users=users)
    ((before,),) = scale.sql("SELECT count(*) FROM carts_user")
    scale.cell("grpc", 1, grpc_server, "add", users=NEW_IDS)
    ((after,),) = scale.sql("SELECT count(*) FROM carts_user")
    return {"created": after - before, "existing_share": users / NEW_IDS}


def stale_guests_load(scale: Scale) -> None:
    with scale.connection.cursor() as cursor:
        scale_data.carts_load(
            cursor, first=1, last=scale.args.stale_guests, prefix="stale", stale=True
        )
    scale.settle(TABLES)


def purge_curve(scale: Scale, service: Server, users: int) -> dict:
    """purge_carts run on the stale guests while windows of the mixed load
    follow one another; the stale guests left, counted every second."""
    measurement.USERS = users
    windows: list[dict] = []

    def window(phase: str) -> None:
        started = time.monotonic()
        load_average = os.getloadavg()[0]
        log_offset = service.log.stat().st_size
        result = scale.load.run(service, "mixed", scale.args.concurrency, PURGE_WINDOW)
        windows.append(
            {
                "phase": phase,
                "started": started,
                "load_average": load_average,
                "rps": result["requests"] / (result["duration_us"] / 1e6),
                "p50_ms": result["p50_us"] / 1000,
                "p99_ms": result["p99_us"] / 1000,
                "errors": result["status"] + result["timeout"] + result["connect"],
                "refusals": refusals(service.log, log_offset),
            }
        )

    for _ in range(WINDOWS_BEFORE_AND_AFTER):
        window("before")
    remaining: list[tuple[float, int]] = []
    started = time.monotonic()
    purge = subprocess.Popen(
        [BIN / "python", "manage.py", "purge_carts"],
        cwd=ROOT,
        env=scale.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    counter = threading.Thread(target=count_stale, args=(purge, remaining))
    counter.start()
    while purge.poll() is None:
        window("during")
    counter.join()
    for _ in range(WINDOWS_BEFORE_AND_AFTER):
        window("after")
    assert purge.stdout is not None  # stdout=PIPE
    guests = scale.args.stale_guests
    # From the last count before the first deletion to the count after the
    # end: the rate is, if anything, understated.
    untouched = [at for at, left in remaining if left == guests]
    first = untouched[-1] if untouched else started
    last, left = remaining[-1]
    return {
        "guests": guests,
        "purged": guests - left,
        "output": purge.stdout.read().strip(),
        "returncode": purge.returncode,
        "seconds": last - started,
        "deleting_seconds": last - first,
        "remaining": [(at - started, left) for at, left in remaining],
        "windows": [window | {"at": window["started"] - started} for window in windows],
    }


def count_stale(purge: subprocess.Popen, remaining: list) -> None:
    """The stale guests left, every second until purge_carts ends (a
    connection of its own: this runs beside the harness's)."""
    connection = psycopg2.connect(os.environ["DATABASE_URL"])
    connection.autocommit = True
    with connection, connection.cursor() as cursor:
        while True:
            ended = purge.poll() is not None
            cursor.execute(
                "SELECT count(*) FROM carts_user WHERE username LIKE 'stale%'"
            )
            remaining.append((time.monotonic(), cursor.fetchall()[0][0]))
            if ended:
                break
            time.sleep(1)
    connection.close()


def main() -> None:
    args = parse_args()
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
        points = carts_curve(scale, [service, floor], loaded=1)
        largest = points[-1]["carts"]
        plans = cart_plans(
            connection,
            username=f"user{largest // 2:05d}",
            product_id=products[0],
        )
        lines_curve(scale, service, floor)
        side_tables_curve(scale, [service, floor], largest)
        grpc = grpc_curve(scale, grpc_server, largest)
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
    Path(args.output).write_text(render(report, Path(args.output).parent))
    print(f"bench-scale: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
