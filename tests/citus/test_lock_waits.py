"""A cart's lock on Citus is taken on its worker, which the connection's
session `lock_timeout` does not reach: carts.database.citus.bound_lock_waits
bounds those waits by DATABASE_LOCK_TIMEOUT too (docs/scaling.md, "Waits on
a worker"). Here the statement timeout is off and the client's deadline is
past the lock timeout, so only the lock timeout can end the wait while
another transaction holds the cart: a `503` on the same connection (the
client's deadline would have closed it)."""

import psycopg2
import pytest
from django.db import connection

from carts.models import User

from ..conftest import database_url_for_tests, error_codes

pytestmark = pytest.mark.django_db(transaction=True)

LOAFERS = "L9ECAV7KIM"


@pytest.fixture
def lock_timeout_alone(settings):
    settings.DATABASE_STATEMENT_TIMEOUT = 0
    settings.DATABASE_LOCK_TIMEOUT = 0.5
    settings.DATABASE_QUERY_TIMEOUT = 5
    connection.close()
    yield
    connection.close()


WRITES = {
    # The one-round-trip write's Citus form (carts.cart.aggregate.one_write).
    "add": lambda client: client.post(
        "/cart/alice", {"product_id": LOAFERS}, format="json"
    ),
    # A change through the aggregate's lock (carts_lock).
    "clear": lambda client: client.delete("/cart/alice"),
}


@pytest.mark.parametrize("write", WRITES)
def test_a_write_waiting_for_the_carts_lock_gives_up_after_the_lock_timeout(
    alice, lock_timeout_alone, write
):
    assert WRITES["add"](alice).status_code == 201
    alice_pk = User.objects.get(username="alice").pk
    backend = connection.connection.get_backend_pid()

    with psycopg2.connect(database_url_for_tests()) as other:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM carts_cart WHERE user_id = %s FOR UPDATE", [alice_pk]
            )
            response = WRITES[write](alice)
        other.rollback()

    assert response.status_code == 503
    assert error_codes(response) == ["service_unavailable"]
    assert connection.connection.get_backend_pid() == backend
    assert WRITES[write](alice).status_code in (200, 204)
