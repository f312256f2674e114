import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import quote

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.auth.powers import manage_any_cart_permission
from carts.models import CartItem, User
from devtools.browser import CHROMIUM
from devtools.liveservice import Gunicorn

# tests/stack and tests/stack_ha need their compose stacks: scripts/container-check
# and scripts/failover-check start them and run the directory with CART_STACK=1
# or CART_STACK_HA=1.
collect_ignore = [
    directory
    for directory, started in (("stack", "CART_STACK"), ("stack_ha", "CART_STACK_HA"))
    if not os.environ.get(started)
]


@pytest.fixture(scope="session", autouse=True)
def _require_postgresql(django_db_setup, django_db_blocker):
    """The suite is about PostgreSQL's behaviour; never let it pass on SQLite."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit(
                "The tests need PostgreSQL: run `make test`, or set DATABASE_URL.",
                returncode=2,
            )


@pytest.fixture(autouse=True)
def _fresh_throttle_cache(settings, tmp_path):
    """Each test starts with no rate-limit counters (same backend as production)."""
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "throttle"),
        },
    }


@pytest.fixture(scope="session", autouse=True)
def _no_statement_deadlines_for_the_suite_itself():
    """The suite's own connections run its set-up and tear-down (a TRUNCATE of
    every table after each transactional test), which on a loaded machine can
    outlast the service's statement deadlines, and its bursts of a hundred
    threads on one cart row its lock wait. The servers the tests start keep
    the real defaults; tests of the deadlines set them themselves."""
    with override_settings(
        DATABASE_STATEMENT_TIMEOUT=0,
        DATABASE_LOCK_TIMEOUT=10,
        DATABASE_IDLE_IN_TRANSACTION_TIMEOUT=0,
        DATABASE_QUERY_TIMEOUT=60,
    ):
        connections.close_all()  # reconnect with these
        yield


@pytest.fixture(autouse=True)
def _bulkhead_as_wide_as_the_test(settings):
    """In this process a test's threads are the server's threads, as many as
    it starts; the bulkhead is sized for gunicorn's (tests/test_db_guard.py,
    tests/test_database_faults.py)."""
    settings.DATABASE_BULKHEAD = 1000


@pytest.fixture
def catalog(db):
    call_command("loaddata", "catalog", verbosity=0)


class TokenClient(APIClient):
    """An APIClient authenticated by a token, which it keeps with its user."""

    user: User
    token: str


@pytest.fixture
def make_client(db):
    """make_client("alice", staff=False) -> a TokenClient; staff=True: an
    account that may act on any cart (is_staff and carts.manage_any_cart)."""

    def make(username: str, *, staff: bool = False) -> TokenClient:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"is_staff": staff}
        )
        if staff:  # an API front end's account: the staff powers' permission
            user.user_permissions.add(manage_any_cart_permission())
        token, _ = Token.objects.get_or_create(user=user)
        client = TokenClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.user = user
        client.token = token.key
        return client

    return make


@pytest.fixture
def alice(make_client, catalog) -> APIClient:
    return make_client("alice")


@pytest.fixture
def staff(make_client, catalog) -> APIClient:
    return make_client("frontend", staff=True)


@pytest.fixture
def admin_client(client, django_user_model):
    """pytest-django's, minus the password: hashing one costs most of a test."""
    client.force_login(django_user_model.objects.create_superuser("admin"))
    return client


def cart_lines(username: str) -> list[tuple[str, int]]:
    """The stored lines of a cart, read straight from the database."""
    return list(
        CartItem.objects.filter(user__username=username)
        .order_by("created_at", "id")
        .values_list("product_id", "quantity")
    )


def add(client, username: str, product_id: str, quantity: int = 1):
    """POST an add that must succeed; the response."""
    response = client.post(
        f"/cart/{username}",
        {"product_id": product_id, "quantity": quantity},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    return response


def error_codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def database_url_for_tests() -> str:
    """The URL of the database the tests run on (pytest-django's test_ copy)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def live_service(transactional_db, tmp_path):
    """The real service (gunicorn, 2 workers) on the test database."""
    with Gunicorn(database_url_for_tests(), tmp_path) as server:
        yield server


@pytest.fixture
def cart_service(live_service) -> str:
    """The base URL of gunicorn serving the project on the test database."""
    return f"http://127.0.0.1:{live_service.port}"


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium; a missing one fails the test in CI, skips it elsewhere."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    message = (
        f"{CHROMIUM} is missing: as root, run scripts/ensure-browser "
        "(apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def concurrently(count: int, request) -> list:
    """Call `request()` in `count` threads at once, each on its own database
    connection, opened before a barrier releases them together (so the burst
    is of requests, not of connection setups); what each call returned.

    The connections open a few at a time: 200 at once on a loaded machine
    (a Citus coordinator in CI) took one past DATABASE_CONNECT_TIMEOUT. A
    thread that cannot connect breaks the barrier, and its error, not the
    others' BrokenBarrierError, is what the test fails with."""
    barrier = threading.Barrier(count)
    connecting = threading.Semaphore(8)

    def worker(_):
        try:
            try:
                with connecting:
                    connection.ensure_connection()
            except BaseException:
                barrier.abort()
                raise
            barrier.wait(timeout=60)
            return request()
        finally:
            connection.close()  # each thread owns a real connection

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(worker, n) for n in range(count)]
    errors = [error for future in futures if (error := future.exception()) is not None]
    if errors:
        causes = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        raise (causes or errors)[0]
    return [future.result() for future in futures]


def token_client(source: APIClient) -> APIClient:
    """A new client (one per thread) with `source`'s credentials."""
    client = APIClient()
    client.credentials(**source._credentials)  # type: ignore[attr-defined]
    return client


# Explicit interleavings of real transactions (tests/test_writer_order.py,
# tests/test_events.py).
PAUSE_KEY = 727027  # the advisory lock a paused transaction waits for
WAIT = 20  # seconds: how long a test waits for the state it expects


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def lock_waiters() -> int:
    """Backends waiting for a row or table lock (advisory locks left out)."""
    watcher = psycopg2.connect(database_url_for_tests())
    try:
        with watcher.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND wait_event <> 'advisory'"
            )
            (count,) = cursor.fetchone() or (0,)
            return int(count)
    finally:
        watcher.close()


def waiting_for_a_lock_or_done(future: Future) -> Callable[[], bool]:
    return lambda: future.done() or lock_waiters() > 0


class Pause:
    """Transactions that `event` a row of `table` matching `when` (a trigger's
    WHEN, OLD/NEW) stop right after that statement until `release()`; with
    `when` None, any statement that `event`s the table, rows or none."""

    def __init__(self, table: str, event: str, when: str | None) -> None:
        level = "STATEMENT" if when is None else f"ROW WHEN ({when})"
        self.holder = psycopg2.connect(database_url_for_tests())
        self.holder.autocommit = True
        with self.holder.cursor() as cursor:
            cursor.execute(
                "CREATE FUNCTION test_pause() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN PERFORM pg_advisory_xact_lock_shared({PAUSE_KEY});"
                " RETURN NULL; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER test_pause AFTER {event} ON {table}"
                f" FOR EACH {level} EXECUTE FUNCTION test_pause()"
            )
            cursor.execute("SELECT pg_advisory_lock(%s)", [PAUSE_KEY])

    def paused(self) -> bool:
        with self.holder.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND objid = %s AND NOT granted",
                [PAUSE_KEY],
            )
            (waiting,) = cursor.fetchone() or (0,)
            return int(waiting) > 0

    def release(self) -> None:
        with self.holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")

    def close(self) -> None:
        self.release()
        with self.holder.cursor() as cursor:
            cursor.execute("DROP FUNCTION test_pause() CASCADE")
        self.holder.close()


@pytest.fixture
def pause():
    """pause(table, event, when) -> a Pause, removed after the test."""
    made: list[Pause] = []

    def make(table: str, event: str, when: str | None) -> Pause:
        made.append(Pause(table, event, when))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def in_thread():
    """in_thread(call) -> a Future of call() run on a thread of its own,
    with its own database connection."""
    pool = ThreadPoolExecutor(max_workers=4)

    def run(call: Callable[[], object]) -> Future:
        def owned_connection() -> object:
            try:
                return call()
            finally:
                connection.close()

        return pool.submit(owned_connection)

    yield run
    pool.shutdown(wait=True)
