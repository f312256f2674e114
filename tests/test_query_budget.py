"""Each success path costs at most 2 queries, token authentication included.

Run on real transactions (no test-wide atomic block) so that any BEGIN/COMMIT
the code issued would be counted too.
"""

import pytest

from carts.demo import LOAFERS

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
