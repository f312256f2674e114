"""Each success path costs at most 2 queries, token authentication included
(a warm token cache makes it 1); an add with an Idempotency-Key, 2 more in a
transaction.

Run on real transactions (no test-wide atomic block) so that any BEGIN/COMMIT
the code issued would be counted too.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from carts.demo import LOAFERS
from carts.models import Product

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["owner", "staff"])
def caller(request, make_client, catalog):
    make_client("alice").post("/cart/alice", {"product_id": LOAFERS}, format="json")
    if request.param == "owner":
        return make_client("alice")
    return make_client("frontend", staff=True)


def test_add_new_line(caller, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = caller.post(
            "/cart/alice", {"product_id": "6E92ZMYYFZ"}, format="json"
        )
    assert response.status_code == 201


def test_add_merge(caller, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = caller.post("/cart/alice", {"product_id": LOAFERS}, format="json")
    assert response.status_code == 200


def test_set(caller, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = caller.put(
            f"/cart/alice/items/{LOAFERS}", {"quantity": 4}, format="json"
        )
    assert response.status_code == 200


def test_set_to_zero_removes(caller, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = caller.put(
            f"/cart/alice/items/{LOAFERS}", {"quantity": 0}, format="json"
        )
    assert response.status_code == 204


def test_remove(caller, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = caller.delete(f"/cart/alice/items/{LOAFERS}")
    assert response.status_code == 204


def test_clear(caller, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = caller.delete("/cart/alice")
    assert response.status_code == 204


def test_clear_empty_cart_of_owner(make_client, catalog, django_assert_max_num_queries):
    alice = make_client("alice")
    with django_assert_max_num_queries(2):
        response = alice.delete("/cart/alice")
    assert response.status_code == 204


def test_get(caller, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = caller.get("/cart/alice")
    assert response.json()["total_quantity"] == 1


def test_get_with_a_matching_if_none_match(caller, django_assert_max_num_queries):
    current = caller.get("/cart/alice")["ETag"]
    with django_assert_max_num_queries(2):
        response = caller.get("/cart/alice", HTTP_IF_NONE_MATCH=current)
    assert response.status_code == 304


def test_write_with_if_match(caller, django_assert_max_num_queries):
    current = caller.get("/cart/alice")["ETag"]
    with django_assert_max_num_queries(2):
        response = caller.post(
            "/cart/alice", {"product_id": LOAFERS}, format="json", HTTP_IF_MATCH=current
        )
    assert response.status_code == 200


def test_add_with_an_idempotency_key_costs_two_statements_more(
    caller, django_assert_max_num_queries
):
    # The claim and the stored answer, in one transaction with the write
    # (BEGIN and COMMIT are counted too).
    with django_assert_max_num_queries(2 + 2 + 2):
        response = caller.post(
            "/cart/alice",
            {"product_id": LOAFERS},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        )
    assert response.status_code == 200


def merge_queries(make_client, lines: int) -> int:
    """Queries of a merge of a guest's `lines` lines into a cart of as many."""
    Product.objects.bulk_create(
        Product(id=f"P{lines}-{n}", name="p", price="1.00") for n in range(2 * lines)
    )
    owner = make_client(f"owner{lines}")
    guest = APIClient().post("/guests").json()
    guest_client = APIClient()
    guest_client.credentials(HTTP_AUTHORIZATION=f"Token {guest['token']}")
    for n in range(lines):
        for client, user_id, product in [
            (owner, f"owner{lines}", f"P{lines}-{n}"),
            (guest_client, guest["user_id"], f"P{lines}-{n + lines // 2}"),
        ]:
            client.post(f"/cart/{user_id}", {"product_id": product}, format="json")
    with CaptureQueriesContext(connection) as queries:
        response = owner.post(
            f"/cart/owner{lines}/merge", {"guest_token": guest["token"]}, format="json"
        )
    assert response.status_code == 200
    assert len(response.json()["merged"]) == lines
    return len(queries)


def test_a_merge_costs_the_same_queries_whatever_the_cart_sizes(
    make_client, catalog, settings
):
    settings.CART_MAX_LINES = 100

    small, large = merge_queries(make_client, 2), merge_queries(make_client, 40)

    assert small == large <= 15, (small, large)


def test_a_staff_add_to_a_new_id_costs_no_more(
    make_client, catalog, django_assert_max_num_queries
):
    staff = make_client("frontend", staff=True)
    staff.get("/cart/frontend")  # the token in the connection's cache
    with django_assert_max_num_queries(1):  # the user and cart, then the add
        response = staff.post("/cart/newcomer", {"product_id": LOAFERS}, format="json")
    assert response.status_code == 201
    with django_assert_max_num_queries(1):  # its pk remembered
        assert staff.get("/cart/newcomer").json()["items"]
