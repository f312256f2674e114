"""Concurrent requests on real PostgreSQL connections, one per thread."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from .conftest import cart_lines

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(count: int, request) -> list[int]:
    """Fire `count` requests at once (threads released together by a barrier)."""
    barrier = threading.Barrier(count)

    def worker(_):
        try:
            # Connect first: the burst is of requests, not of connection setups.
            connection.ensure_connection()
            barrier.wait(timeout=60)
            return request().status_code
        finally:
            connection.close()  # each thread owns a real connection

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def token_client(source: APIClient) -> APIClient:
    client = APIClient()
    client.credentials(**source._credentials)
    return client


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
