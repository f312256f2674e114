"""Concurrent requests on real PostgreSQL connections, one per thread."""

import threading

import pytest
from rest_framework.test import APIClient

from carts.models import Product

from .conftest import cart_lines, concurrently, token_client

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(count: int, request) -> list[int]:
    """Fire `count` requests at once; their statuses."""
    return [response.status_code for response in concurrently(count, request)]


def test_concurrent_adds_lose_no_update_and_create_one_line(make_client, catalog):
    alice = make_client("alice")

    statuses = run_concurrently(
        100,
        lambda: token_client(alice).post(
            "/cart/alice", {"product_id": "L9ECAV7KIM", "quantity": 1}, format="json"
        ),
    )

    assert sorted(statuses) == [200] * 99 + [201]
    assert cart_lines("alice") == [("L9ECAV7KIM", 100)]


def test_concurrent_adds_near_the_limit_stop_exactly_at_it(make_client, catalog):
    alice = make_client("alice")
    alice.post(
        "/cart/alice", {"product_id": "L9ECAV7KIM", "quantity": 990}, format="json"
    )

    statuses = run_concurrently(
        40,
        lambda: token_client(alice).post(
            "/cart/alice", {"product_id": "L9ECAV7KIM", "quantity": 1}, format="json"
        ),
    )

    assert statuses.count(200) == 10
    assert statuses.count(409) == 30
    assert cart_lines("alice") == [("L9ECAV7KIM", 1000)]


def test_concurrent_adds_of_many_users_do_not_interfere(make_client, catalog):
    clients = [make_client(f"shopper{n}") for n in range(10)]
    turns = iter(clients * 5)
    lock = threading.Lock()

    def add_for_next_shopper():
        with lock:
            shopper = next(turns)
        return token_client(shopper).post(
            f"/cart/{shopper.user.username}",
            {"product_id": "6E92ZMYYFZ", "quantity": 2},
            format="json",
        )

    statuses = run_concurrently(50, add_for_next_shopper)

    assert sorted(statuses) == [200] * 40 + [201] * 10
    for n in range(10):
        assert cart_lines(f"shopper{n}") == [("6E92ZMYYFZ", 10)]


def test_concurrent_sets_and_removes_never_break_the_one_line_rule(
    make_client, catalog
):
    alice = make_client("alice")
    requests = iter(range(60))
    lock = threading.Lock()

    def set_or_remove():
        with lock:
            n = next(requests)
        client = token_client(alice)
        if n % 3 == 0:
            return client.delete("/cart/alice/items/LS4PSXUNUM")
        return client.put(
            "/cart/alice/items/LS4PSXUNUM", {"quantity": n}, format="json"
        )

    statuses = run_concurrently(60, set_or_remove)

    assert set(statuses) <= {200, 201, 204, 404}
    lines = cart_lines("alice")
    assert len(lines) <= 1
    assert all(quantity % 3 for _, quantity in lines)


def test_the_line_limit_is_exact_under_a_burst_of_new_lines(
    make_client, catalog, settings
):
    settings.CART_MAX_LINES = 10
    Product.objects.bulk_create(
        Product(id=f"BURST{n:03}", name=f"Burst {n}", price="1.00") for n in range(100)
    )
    alice = make_client("alice")
    alice.post("/cart/alice", {"product_id": "L9ECAV7KIM"}, format="json")
    products = iter(range(100))
    lock = threading.Lock()

    def add_a_new_product():
        with lock:
            n = next(products)
        return token_client(alice).post(
            "/cart/alice", {"product_id": f"BURST{n:03}"}, format="json"
        )

    statuses = run_concurrently(100, add_a_new_product)

    assert statuses.count(201) == 9
    assert statuses.count(409) == 91
    assert len(cart_lines("alice")) == 10


def new_guest() -> tuple[str, str]:
    body = APIClient().post("/guests").json()
    return body["user_id"], body["token"]


def test_adds_racing_a_merge_lose_no_unit(make_client, catalog):
    alice = make_client("alice")
    user_id, token = new_guest()
    guest = APIClient()
    guest.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    guest.post(f"/cart/{user_id}", {"product_id": "L9ECAV7KIM"}, format="json")
    calls = iter(range(51))
    lock = threading.Lock()
    answers = []

    def add_or_merge():
        with lock:
            n = next(calls)
        if n == 25:
            response = token_client(alice).post(
                "/cart/alice/merge", {"guest_token": token}, format="json"
            )
        else:
            response = token_client(guest).post(
                f"/cart/{user_id}", {"product_id": "L9ECAV7KIM"}, format="json"
            )
        answers.append((n, response.status_code))
        return response

    statuses = run_concurrently(51, add_or_merge)

    added = sum(1 for n, status in answers if n != 25 and status in (200, 201))
    refused = sum(1 for n, status in answers if n != 25 and status in (401, 409))
    assert added + refused == 50 and statuses.count(200) >= 1
    # Every unit the guest was told was added is in alice's cart or, if it came
    # after the merge, was answered with an error; none stays in the guest cart.
    assert cart_lines("alice") == [("L9ECAV7KIM", 1 + added)]
    assert cart_lines(user_id) == []


def test_concurrent_identical_merges_apply_once(make_client, catalog):
    alice = make_client("alice")
    user_id, token = new_guest()
    guest = APIClient()
    guest.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    added = guest.post(
        f"/cart/{user_id}", {"product_id": "L9ECAV7KIM", "quantity": 3}, format="json"
    )
    assert added.status_code == 201
    answers = []

    def merge():
        response = token_client(alice).post(
            "/cart/alice/merge", {"guest_token": token}, format="json"
        )
        answers.append(response.json()["already_merged"])
        return response

    statuses = run_concurrently(20, merge)

    assert statuses == [200] * 20
    assert sorted(answers) == [False] + [True] * 19
    assert cart_lines("alice") == [("L9ECAV7KIM", 3)]
