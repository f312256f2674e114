"""A write that fails never half-applies.

Each write is one SQL statement, which PostgreSQL runs as one transaction. To
show it, a trigger makes the database fail right AFTER a given line has been
written, still inside that transaction: the request fails and the cart is
exactly as it was. For a clear, the failure comes with the second line, after
the first was deleted: a clear done line by line would lose that one.
"""

import pytest
from django.db import connection

from carts.demo import LOAFERS, MUG, SHAKERS

from .conftest import cart_lines, error_codes

pytestmark = pytest.mark.django_db(transaction=True)


# (method, path, body, the line whose write fails)
WRITES = [
    ("post", "/cart/alice", {"product_id": SHAKERS, "quantity": 2}, SHAKERS),
    ("post", "/cart/alice", {"product_id": LOAFERS, "quantity": 2}, LOAFERS),
    ("put", f"/cart/alice/items/{MUG}", {"quantity": 7}, MUG),
    ("put", f"/cart/alice/items/{SHAKERS}", {"quantity": 7}, SHAKERS),
    ("put", f"/cart/alice/items/{MUG}", {"quantity": 0}, MUG),
    ("delete", f"/cart/alice/items/{MUG}", None, MUG),
    ("delete", "/cart/alice", None, MUG),
]


@pytest.fixture
def fail_after_writing():
    """fail_after_writing(product_id): from then on, writing that product's
    line (insert, update or delete) fails just after the row is written."""

    def install(product_id: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                CREATE FUNCTION fail_after_write() RETURNS trigger AS $$
                BEGIN
                  IF (CASE WHEN TG_OP = 'DELETE' THEN OLD.product_id
                           ELSE NEW.product_id END) = TG_ARGV[0] THEN
                    RAISE EXCEPTION 'injected failure after % of %',
                      TG_OP, TG_ARGV[0];
                  END IF;
                  RETURN NULL;
                END $$ LANGUAGE plpgsql;
                """
            )
            cursor.execute(
                "CREATE TRIGGER fail_after_write"
                " AFTER INSERT OR UPDATE OR DELETE ON carts_cartitem"
                " FOR EACH ROW EXECUTE FUNCTION fail_after_write(%s)",
                [product_id],
            )

    yield install
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER fail_after_write ON carts_cartitem;"
            " DROP FUNCTION fail_after_write();"
        )


@pytest.mark.parametrize(("method", "path", "body", "failing_line"), WRITES)
def test_a_write_failing_after_its_statement_leaves_the_cart_as_it_was(
    alice, fail_after_writing, method, path, body, failing_line
):
    alice.post("/cart/alice", {"product_id": LOAFERS, "quantity": 3}, format="json")
    alice.post("/cart/alice", {"product_id": MUG, "quantity": 1}, format="json")
    before = cart_lines("alice")
    fail_after_writing(failing_line)
    alice.raise_request_exception = False

    response = getattr(alice, method)(path, body, format="json")

    assert response.status_code == 500
    assert response.json()["type"] == "server_error"
    assert error_codes(response) == ["error"]
    assert "injected" not in response.content.decode()
    assert cart_lines("alice") == before == [(LOAFERS, 3), (MUG, 1)]
