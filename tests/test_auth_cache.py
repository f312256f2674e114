"""The per-connection token cache never outlives a committed revocation by more
than the notification's delivery (carts.auth.token_cache, bench/README.md).

On real transactions: a NOTIFY only leaves when its transaction commits.
"""

import select
import time
from importlib import import_module

import psycopg2
import pytest
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from carts.auth.token_cache import auth_cache
from carts.database import thread_connection
from devtools.liveservice import Gunicorn

from .conftest import database_url_for_tests

auth_change_notifications = import_module(
    "carts.migrations.0002_auth_change_notifications"
)
permission_change_notifications = import_module(
    "carts.migrations.0010_manage_any_cart_permission"
)

pytestmark = pytest.mark.django_db(transaction=True)

# What a revocation may take to reach a listening connection: the database
# server's delivery of the notification, nothing else.
DELIVERY = 0.1


def other_connection(statement: str, params=()) -> None:
    """A change committed by another client, as an admin elsewhere would."""
    admin = psycopg2.connect(database_url_for_tests())
    try:
        with admin, admin.cursor() as cursor:  # commits
            cursor.execute(statement, params)
    finally:
        admin.close()


def request_cart(client, path="/cart/alice") -> int:
    close_old_connections()  # what each real request starts with
    return client.get(path).status_code


def wait_for_notification() -> None:
    select.select([connection.connection.fileno()], [], [], 5)


def test_a_warm_cache_saves_the_token_query(alice, django_assert_num_queries):
    assert request_cart(alice) == 200

    with django_assert_num_queries(1):  # the cart's statement only
        assert request_cart(alice) == 200


def test_the_cache_can_be_switched_off(alice, settings):
    settings.CART_TOKEN_CACHE = False
    connection.close()  # the setting applies to new connections
    try:
        assert request_cart(alice) == 200

        assert auth_cache(thread_connection()) is None
        with CaptureQueriesContext(connection) as queries:
            assert request_cart(alice) == 200
        assert len(queries) == 2  # the token lookup and the cart's statement
    finally:
        connection.close()  # the next test's connection caches again


def test_a_token_deleted_by_another_client_is_refused(alice):
    assert request_cart(alice) == 200
    other_connection("DELETE FROM authtoken_token WHERE key = %s", [alice.token])
    wait_for_notification()

    assert request_cart(alice) == 401


def test_a_user_deactivated_by_another_client_is_refused(alice):
    assert request_cart(alice) == 200
    other_connection(
        "UPDATE carts_user SET is_active = false WHERE id = %s", [alice.user.pk]
    )
    wait_for_notification()

    assert request_cart(alice) == 401


def test_changes_in_this_process_empty_the_cache_before_they_commit(alice, staff):
    assert request_cart(alice) == 200
    assert request_cart(staff, "/cart/alice") == 200

    Token.objects.filter(user=alice.user).delete()
    staff.user.user_permissions.clear()  # carts.manage_any_cart

    assert request_cart(alice) == 401
    assert request_cart(staff, "/cart/alice") == 403


def test_nothing_is_cached_inside_a_transaction(alice):
    assert request_cart(alice) == 200
    with transaction.atomic():
        assert auth_cache(thread_connection()) is None


def test_without_the_triggers_nothing_is_cached(alice):
    assert request_cart(alice) == 200
    assert auth_cache(thread_connection()) is not None

    # Migrations 0008 and 0002 backwards: the triggers go, and their last
    # notice tells every listener (other migrations depend on them, so run
    # their SQL alone).
    with connection.cursor() as cursor:
        cursor.execute(permission_change_notifications.BACKWARD)
        cursor.execute(auth_change_notifications.BACKWARD)
    try:
        # The migration told every listener, this connection included.
        assert auth_cache(thread_connection()) is None
        connection.close()
        assert request_cart(alice) == 200
        assert auth_cache(thread_connection()) is None  # a new connection checks
    finally:
        with connection.cursor() as cursor:
            cursor.execute(auth_change_notifications.FORWARD)
            cursor.execute(permission_change_notifications.FORWARD)
    connection.close()
    assert request_cart(alice) == 200
    assert auth_cache(thread_connection()) is not None


# The real service in another process, with one connection (1 worker, 1
# thread), so that every request after the first meets a warm cache.
@pytest.fixture
def single_connection_service(transactional_db, tmp_path):
    env = {"GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "1"}
    with Gunicorn(database_url_for_tests(), tmp_path, workers=1, env=env) as server:
        yield server


def statuses_around(server, token: str, change: str, params) -> list[int]:
    """Statuses of requests sent from DELIVERY after the change on, which must
    all refuse; those sent before must have been accepted (a warm cache)."""
    before = [server.request("GET", "/cart/alice", token=token).status]
    before += [server.request("GET", "/cart/alice", token=token).status]
    assert before == [200, 200]
    other_connection(change, params)
    committed = time.monotonic()
    flipped = None
    while flipped is None:
        status = server.request("GET", "/cart/alice", token=token).status
        if status != 200:
            flipped = time.monotonic() - committed
        else:
            assert time.monotonic() - committed < DELIVERY, "revocation not seen"
    return [status] + [
        server.request("GET", "/cart/alice", token=token).status for _ in range(5)
    ]


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM authtoken_token WHERE user_id = %s",
        "UPDATE carts_user SET is_active = false WHERE id = %s",
    ],
)
def test_the_live_service_refuses_a_revoked_token(
    single_connection_service, alice, change
):
    statuses = statuses_around(
        single_connection_service, alice.token, change, [alice.user.pk]
    )

    assert statuses == [401] * 6


def test_the_live_service_forbids_staff_whose_permission_is_revoked(
    single_connection_service, alice, staff
):
    statuses = statuses_around(
        single_connection_service,
        staff.token,
        # The permission the staff powers need (migration 0008's trigger).
        "DELETE FROM carts_user_user_permissions WHERE user_id = %s",
        [staff.user.pk],
    )

    assert statuses == [403] * 6


def test_the_live_service_answers_from_its_cache(single_connection_service, alice):
    """Control: the tests above do meet a warm cache. A deletion that fires no
    trigger (replica mode) is not seen by the connection that cached it."""
    server = single_connection_service
    assert server.request("GET", "/cart/alice", token=alice.token).status == 200
    other_connection(
        "SET session_replication_role = replica;"
        "DELETE FROM authtoken_token WHERE key = %s",
        [alice.token],
    )
    time.sleep(DELIVERY)

    assert server.request("GET", "/cart/alice", token=alice.token).status == 200
