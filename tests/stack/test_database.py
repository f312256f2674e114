"""PgBouncer between the replicas and PostgreSQL; token revocation on both
paths to the database (through the pooler: no cache; direct: cache + LISTEN)."""

import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import create_accounts
from .stack import (
    REPLICAS,
    call,
    connected,
    database_url,
    free_port,
    metric,
    port,
    record,
)

pytestmark = pytest.mark.stack

CLIENTS = 300
# What a revocation may take to reach a listening connection with the token
# cache on: the database server's delivery of the notification.
DELIVERY = 0.1


class ServerConnections:
    """Samples, on a connection of its own, how many other client backends
    serve the service's database, until stopped; `peak` is the most seen. The
    grpc and webhooks services' own connections (application_name cart-grpc,
    cart-webhooks) go to PostgreSQL directly, not through the pool, and are
    not counted; nor are
    the server's own workers (autovacuum analyses the tables the tests fill)
    or the db service's health check, a pg_isready every 2 s that logs in to
    the database for a moment (seen as a 21st backend in two CI runs)."""

    def __init__(self):
        self.peak = 0
        self.at_peak: list[tuple] = []  # the backends seen at the peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        with connected("db") as connection, connection.cursor() as cursor:
            while not self._stop.wait(0.02):
                cursor.execute(
                    "SELECT application_name, client_addr, client_port, state,"
                    " backend_start, left(query, 60) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                    " AND application_name NOT IN"
                    " ('cart-grpc', 'cart-webhooks', 'pg_isready')"
                )
                backends = cursor.fetchall()
                if len(backends) > self.peak:
                    self.peak, self.at_peak = len(backends), backends

    def within(self, size: int) -> bool:
        """True if the peak is 1..size; else the backends seen at it are printed."""
        if not 0 < self.peak <= size:
            print(*self.at_peak, sep="\n")
        return 0 < self.peak <= size

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def pool_size() -> int:
    with connected("db") as connection, connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        (max_connections,) = map(int, cursor.fetchone() or ())
    size = 20  # PGBOUNCER_POOL_SIZE in docker-compose.yaml
    assert size < max_connections < CLIENTS
    return size


def test_300_clients_through_pgbouncer_stay_under_the_connection_limit():
    size = pool_size()
    barrier = threading.Barrier(CLIENTS)

    def client(_) -> int:
        with connected("pgbouncer") as connection, connection.cursor() as cursor:
            barrier.wait(timeout=60)
            cursor.execute("SELECT pg_sleep(0.2), 1")
            (_, one) = cursor.fetchone() or (None, None)
            return one

    with ServerConnections() as sampled, ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))

    record(f"pgbouncer: {CLIENTS} clients at once, peak {sampled.peak} server conns")
    assert results == [1] * CLIENTS
    assert sampled.within(size), sampled.peak


def test_300_concurrent_requests_through_nginx_all_complete(staff_token, shoppers):
    size = pool_size()

    def request(number: int) -> int:
        cart = shoppers[number % len(shoppers)]
        return call("web", "GET", f"/cart/{cart}", token=staff_token).status

    with ServerConnections() as sampled, ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(request, range(CLIENTS)))

    record(f"nginx: {CLIENTS} requests at once, peak {sampled.peak} server conns")
    assert statuses == [200] * CLIENTS
    assert sampled.within(size), sampled.peak


def test_every_server_connection_of_pgbouncer_carries_the_services_bounds():
    """A replica's own SETs (carts.database.postgresql) reach only the server
    connection its first transaction borrowed; PgBouncer's connect_query
    gives every server connection the same bounds."""
    barrier = threading.Barrier(25)

    def client(_) -> tuple[object, ...]:
        with connected("pgbouncer") as connection, connection.cursor() as cursor:
            barrier.wait(timeout=60)
            cursor.execute(
                "SELECT pg_backend_pid(), current_setting('statement_timeout'), "
                "current_setting('lock_timeout'), "
                "current_setting('idle_in_transaction_session_timeout'), "
                "pg_sleep(0.2)"
            )
            return cursor.fetchone() or ()

    with ThreadPoolExecutor(25) as pool:
        rows = list(pool.map(client, range(25)))

    assert len({row[0] for row in rows}) > 1  # several server connections
    assert {row[1:4] for row in rows} == {("2s", "1s", "10s")}


@pytest.fixture(scope="module")
def extra_replicas():
    """Two more web containers beside the stack's, each on a port of its own:
    "undeclared" goes through PgBouncer without being told
    (DATABASE_TRANSACTION_POOLER=0), "direct" straight to PostgreSQL."""
    names = {"undeclared": "pgbouncer", "direct": "db"}
    project = os.environ["COMPOSE_PROJECT_NAME"]
    containers = {name: f"{project}_{name}" for name in names}
    try:
        for name, via in names.items():
            os.environ[f"CI_{name.upper()}_PORT"] = str(free_port())
            environment = {
                "DATABASE_URL": database_url(via),
                "DATABASE_TRANSACTION_POOLER": "0",
                "GUNICORN_BIND": f"127.0.0.1:{port(name)}",
                "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
            }
            # Not `compose run`: compose v1 links a one-off container to its
            # service's dependencies, which host networking refuses. The
            # labels make it the project's, so that `down` removes it too.
            subprocess.run(
                [
                    "docker",
                    "run",
                    "--detach",
                    "--network=host",
                    f"--name={containers[name]}",
                    f"--label=com.docker.compose.project={project}",
                    f"--label=com.docker.compose.service=extra-{name}",
                    *(f"--env={key}={value}" for key, value in environment.items()),
                    f"cart-service:{os.environ['CART_IMAGE_TAG']}",
                ],
                check=True,
                capture_output=True,
            )
        for name in names:
            wait_until_serving(name)
        yield containers
    finally:
        for name, container in containers.items():
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
            os.environ.pop(f"CI_{name.upper()}_PORT", None)


def wait_until_serving(service: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if call(service, "GET", "/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} does not answer")
        time.sleep(0.5)


def revoke(token: str) -> None:
    with connected("db") as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM authtoken_token WHERE key = %s", [token])
        assert cursor.rowcount == 1


@pytest.mark.parametrize(
    ("replicas", "cache"),
    [(REPLICAS, "off"), (("undeclared",), "off"), (("direct",), "hit")],
    ids=["pooled-replicas", "pooled-undeclared", "direct-with-cache"],
)
def test_a_revoked_token_is_refused_on_every_replica(extra_replicas, replicas, cache):
    [(username, token)] = create_accounts(1, staff=False)
    path = f"/cart/{username}"
    lookups = "cart_token_cache_lookups_total"
    before = {r: metric(r, lookups, result=cache) for r in replicas}

    # Each replica's workers and threads see the token (and may cache it).
    for replica in replicas:
        statuses = [call(replica, "GET", path, token=token).status for _ in range(24)]
        assert statuses == [200] * 24
        # The path this case is about: no cache, or hits in the cache.
        assert metric(replica, lookups, result=cache) > before[replica]
    revoke(token)
    committed = time.monotonic()
    # Without a cache the first request after the commit is refused; with one,
    # the contract allows the notification's delivery to each connection
    # (docs/API.md), as tests/test_auth_cache.py does on the host. Every
    # request sent after that is refused: 24 a replica.
    allowed = 0 if cache == "off" else DELIVERY
    after, accepted_within = [], 0
    for replica in replicas:
        sent = 0
        while sent < 24:
            late = time.monotonic() - committed >= allowed
            status = call(replica, "GET", path, token=token).status
            if late:
                after.append(status)
                sent += 1
            else:
                accepted_within += status == 200
    if cache != "off":
        record(f"revocation, cache on: {accepted_within} accepted within {allowed}s")

    assert after == [401] * len(after)


def test_a_connection_through_an_undeclared_pooler_is_noticed(extra_replicas):
    log = subprocess.run(
        ["docker", "logs", extra_replicas["undeclared"]],
        capture_output=True,
        text=True,
    )
    assert "Token cache off: the database connection ends at" in log.stdout + log.stderr
