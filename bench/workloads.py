"""The workloads: the users and carts the database is seeded with, and what
each workload needs done around its runs (wrk's side is in bench/wrk/)."""

import time
import urllib.error
import urllib.request

from servers import OUT, ROOT, Server

CATALOG = ROOT / "carts" / "fixtures" / "catalog.json"
ETAGS = OUT / "etags.txt"
USERS = 10_000
HOT_USER = "user00001"
STAFF = "bench-staff"
# The hot line takes every add of a run; the default limit (1000) would refuse
# most of them. Service and floor get the same limit.
MAX_QUANTITY = 1_000_000_000
WORKLOADS = [
    "add",
    "get",
    "mixed",
    "hot",
    "add-key",
    "get-304",
    "first-add",
    "checkout",
]
# get-304 polls these users' carts with their current ETags (bench/out/etags.txt).
POLLED_USERS = 500
# first-add writes to users fresh000001.. that have no cart row, each request
# to another; enough for a measured window at 5 times this machine's rate.
FRESH_USERS = 50_000
# checkout holds and completes the carts of users checkout000001.., each
# with 2 lines, each cart once per run; enough for a warm-up and a measured
# window at 5 times this machine's rate (about 250 checkouts/s).
CHECKOUT_USERS = 20_000
# Workloads the floor has no endpoints for: the service runs them alone.
FLOORLESS = {"checkout"}
# The workloads the gRPC server runs too (AddItem, GetCart), next to REST's.
GRPC_WORKLOADS = {"add", "get"}
# The service's get, also answered with less of its work (bench/layers.py).
LAYERED_WORKLOAD = "get"
LAYERS = ("django", "query", "drf")


# The checkout users' lines: 2 each, of 2 of the first 9 products.
CHECKOUT_LINES_SQL = """
    INSERT INTO carts_cartitem (user_id, product_id, quantity,
      created_at, updated_at)
    SELECT u.id, (%(products)s::text[])[1 + (u.id + 4 * k) %% 9], 1 + k,
      now() + k * interval '1 millisecond', now() + k * interval '1 millisecond'
    FROM carts_user u, generate_series(0, 1) k
    WHERE u.username LIKE 'checkout%%'
"""


def seed(connection, products: list[str], token: str) -> None:
    """10,000 users with 3 lines each (and their cart rows), a staff account
    (a superuser: it holds carts.manage_any_cart) with `token`, the fresh
    users, who have no cart row, and the checkout users with 2 lines each.
    The same statements seed the --baseline revision's database, so they use
    only columns an older schema has too."""
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
            VALUES ('!', true, %(staff)s, '', '', '', true, true, now());
            INSERT INTO authtoken_token (key, user_id, created)
            SELECT %(token)s, id, now() FROM carts_user WHERE username = %(staff)s;
            INSERT INTO carts_user (password, is_superuser, username, first_name,
              last_name, email, is_staff, is_active, date_joined)
            SELECT '!', false, 'fresh' || lpad(i::text, 6, '0'), '', '', '',
              false, true, now()
            FROM generate_series(1, %(fresh)s) i;
            INSERT INTO carts_user (password, is_superuser, username, first_name,
              last_name, email, is_staff, is_active, date_joined)
            SELECT '!', false, 'checkout' || lpad(i::text, 6, '0'), '', '', '',
              false, true, now()
            FROM generate_series(1, %(checkout)s) i;
            INSERT INTO carts_cart (user_id, version, updated_at)
            SELECT id, 1, now() FROM carts_user WHERE username LIKE 'checkout%%';
            """
            + CHECKOUT_LINES_SQL
            + "; ANALYZE",
            {
                "users": USERS,
                "products": products,
                "staff": STAFF,
                "token": token,
                "fresh": FRESH_USERS,
                "checkout": CHECKOUT_USERS,
            },
        )


def before_warmup(
    workload: str, server: Server, token: str, connection, products: list[str]
) -> None:
    if workload == "get-304":
        fetch_etags(server, token)
    elif workload == "first-add":
        fresh_carts(connection, remove=True)
    elif workload == "checkout":
        checkout_carts(connection, products, restore=True)


def before_measuring(workload: str, connection, products: list[str]) -> None:
    """Undo what the warm-up did that the measured window must not see."""
    if workload == "hot":
        time.sleep(0.5)  # requests the warm-up left in flight
        hot_line_quantity(connection, reset=True)
    elif workload == "first-add":
        time.sleep(0.5)
        fresh_carts(connection, remove=True)
    elif workload == "checkout":
        settle(connection)
        checkout_carts(connection, products, restore=True)


def after_measuring(workload: str, connection, result: dict, concurrency: int):
    """The workload's own check of the measured window, if it has one."""
    if workload == "first-add":
        time.sleep(0.5)
        # Each answered request created a cart unless wrk ran out of fresh
        # users and started again on carts it had created.
        created = fresh_carts(connection)
        return {"created": created, "passed": created >= result["requests"]}
    if workload == "checkout":
        settle(connection)
        completed, left = checkout_carts(connection)
        return {
            "checkouts": result["checkouts"],
            "completed": completed,
            "left": left,
            # Every checkout wrk counted completed one in the database (plus
            # at most one per connection in flight at wrk's deadline), and
            # the window did not run out of carts with lines.
            "passed": result["checkouts"]
            <= completed
            <= result["checkouts"] + concurrency
            and left > 0,
        }
    if workload != "hot":
        return None
    time.sleep(0.5)
    final = hot_line_quantity(connection)
    return {
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


def fresh_carts(connection, remove: bool = False) -> int:
    """How many fresh users have a cart row; with `remove`, none again (their
    lines and carts deleted, the dead rows vacuumed away, so that each cell
    starts from the same tables)."""
    fresh = "SELECT id FROM carts_user WHERE username LIKE 'fresh%'"
    with connection.cursor() as cursor:
        if remove:
            cursor.execute(
                f"DELETE FROM carts_cartitem WHERE user_id IN ({fresh});"
                f" DELETE FROM carts_cart WHERE user_id IN ({fresh})"
            )
            cursor.execute("VACUUM carts_cart, carts_cartitem")
            return 0
        cursor.execute(f"SELECT count(*) FROM carts_cart WHERE user_id IN ({fresh})")
        return cursor.fetchone()[0]


def settle(connection, quiet: float = 1.0, longest: float = 20) -> None:
    """Wait until the requests wrk left in flight are done: no other session
    busy on the database for `quiet` seconds (or `longest` passed). A late
    hold or complete of the warm-up, run after the carts were restored, would
    refuse the measured window's first holds (409); under outside load the
    server can still be answering them seconds after wrk stopped."""
    deadline = time.monotonic() + longest
    quiet_since = time.monotonic()
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                " current_database() AND state <> 'idle' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet:
                return
            time.sleep(0.1)


def checkout_carts(connection, products=(), restore=False) -> tuple[int, int]:
    """The checkout users' completed checkouts and the carts they still have
    with lines; with `restore`, no checkout and 2 lines each again (the dead
    rows vacuumed away), so that each cell starts from the same tables."""
    users = "SELECT id FROM carts_user WHERE username LIKE 'checkout%%'"
    with connection.cursor() as cursor:
        if restore:
            cursor.execute(
                f"DELETE FROM carts_checkout WHERE user_id IN ({users});"
                f" DELETE FROM carts_cartitem WHERE user_id IN ({users});"
                + CHECKOUT_LINES_SQL,
                {"products": list(products)},
            )
            cursor.execute("VACUUM ANALYZE carts_checkout, carts_cartitem")
            return 0, CHECKOUT_USERS
        cursor.execute(
            f"SELECT (SELECT count(*) FROM carts_checkout WHERE user_id IN ({users})"
            " AND state = 'completed'),"
            " (SELECT count(DISTINCT user_id) FROM carts_cartitem"
            f" WHERE user_id IN ({users}))"
        )
        return cursor.fetchone()


def serves_checkout(server: Server, token: str) -> bool:
    """Whether the server has the checkout endpoints (a --baseline revision
    may predate them): GET on the hold's path is 405 if it does, 404 if not."""
    request = urllib.request.Request(
        f"{server.url}/cart/checkout000001/checkout",
        headers={"Authorization": f"Token {token}"},
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        return error.code == 405
    return True


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
