"""The curves of `make bench-scale` (bench/scale.py): each loads or reshapes
its data (bench/scale_data.py) and measures its cells with `make bench`'s
own measurement.run_cell, on the servers bench/scale.py started."""

import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import measurement
import psycopg2
import scale_data
from measurement import Load, refusals, run_cell, tree_cpu
from servers import BIN, ROOT, Server, proc_stat

CART_WORKLOADS = ["add", "get", "get-304"]
# The carts the lines curve reshapes (user00001..) and its load draws from.
LINE_CARTS = 1_000
# gRPC ids drawn from user00001..user200000000 are almost all unknown (a
# new guest and cart each); SCALE.md gives the share that existed.
NEW_IDS = 200_000_000
# The purge curve's live load: windows this long, before, during and after.
PURGE_WINDOW = 5
WINDOWS_BEFORE_AND_AFTER = 3
PURGE_CONNECTION = "bench-scale purge_carts"
# A cell with more of its requests refused than this share is measured
# again, at most REMEASURES times (Scale.cell).
REFUSED_SHARE = 0.01
REMEASURES = 2
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


SIDE_TABLES = [
    SideTable(
        "stored Idempotency-Key answers",
        "carts_idempotencyrecord",
        "add-key",
        lambda cursor, rows: scale_data.idempotency_records_load(cursor, count=rows),
    ),
    # Every add writes its event there (the floor writes none: its cells
    # show what the machine did meanwhile).
    SideTable(
        "outbox rows (events)",
        "carts_cartevent",
        "add",
        lambda cursor, rows: scale_data.cart_events_load(cursor, count=rows),
    ),
]


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
        attempts: list[dict] = []
        # A cell whose requests the server refused in part (the bulkhead's
        # 503s when the shared machine stalls PostgreSQL; a 503 costs next to
        # nothing) measured less work per request than its neighbours: it is
        # measured again, and the attempt refused least is kept.
        while len(attempts) <= REMEASURES and (
            not attempts or refused_share(attempts[-1]) > REFUSED_SHARE
        ):
            attempts.append(
                run_cell(
                    load,
                    server,
                    workload,
                    self.args.concurrency,
                    self.args,
                    self.connection,
                    self.postmaster,
                )
            )
        cell = min(attempts, key=refused_share)
        cell |= {
            "curve": curve,
            "point": point,
            "load_average": load_average,
            "attempts": len(attempts),
        }
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


def refused_share(cell: dict) -> float:
    return sum(cell["refusals"].values()) / max(1, cell["requests"])


def carts_curve(
    scale: Scale, sides: list[Server], loaded: int, *, measure: bool
) -> list[dict]:
    """Each size: its data loaded on top of the `loaded` carts there are,
    then (`measure`) every workload on the service and the floor."""
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
        for workload in CART_WORKLOADS if measure else []:
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
        # CASCADE: the webhooks' deliveries (none here) point at the outbox.
        scale.sql(f"TRUNCATE {side.table} CASCADE")
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
                "requests": result["requests"],
                "tail_us": result["tail_us"],
                "errors": result["status"] + result["timeout"] + result["connect"],
                "refusals": refusals(service.log, log_offset),
            }
        )

    for _ in range(WINDOWS_BEFORE_AND_AFTER):
        window("before")
    remaining: list[tuple[float, int]] = []
    cpu: dict[str, float] = {}
    started = time.monotonic()
    purge = subprocess.Popen(
        [
            BIN / "python",
            "manage.py",
            "purge_carts",
            *shlex.split(scale.args.purge_args),
        ],
        cwd=ROOT,
        # libpq's name for its connection, by which count_stale finds it.
        env=scale.env | {"PGAPPNAME": PURGE_CONNECTION},
        stdout=subprocess.PIPE,
        text=True,
    )
    counter = threading.Thread(target=count_stale, args=(purge, remaining, cpu))
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
        "purge_args": scale.args.purge_args,
        "cpu": cpu,
        "seconds": last - started,
        "deleting_seconds": last - first,
        "remaining": [(at - started, left) for at, left in remaining],
        "windows": [window | {"at": window["started"] - started} for window in windows],
    }


def count_stale(purge: subprocess.Popen, remaining: list, cpu: dict) -> None:
    """The stale guests left, every second until purge_carts ends (a
    connection of its own: this runs beside the harness's); and the CPU
    seconds of purge_carts and of its backends (one per job) as last seen
    (up to a second short)."""
    connection = psycopg2.connect(os.environ["DATABASE_URL"])
    connection.autocommit = True
    backends: dict[int, float] = {}
    # Not `with connection`: psycopg2 would open a transaction, in which
    # pg_stat_activity stays as first read.
    with connection.cursor() as cursor:
        while True:
            ended = purge.poll() is not None
            cursor.execute(
                "SELECT count(*) FROM carts_user WHERE username LIKE 'stale%'"
            )
            remaining.append((time.monotonic(), cursor.fetchall()[0][0]))
            if ended:
                break
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                [PURGE_CONNECTION],
            )
            for (backend,) in cursor.fetchall():
                backends.setdefault(backend, 0.0)
            cpu["purge_carts"] = tree_cpu(purge.pid) or cpu.get("purge_carts", 0)
            for backend, seen in backends.items():
                backends[backend] = tree_cpu(backend) or seen
            cpu["backend"] = sum(backends.values())
            time.sleep(1)
    connection.close()
