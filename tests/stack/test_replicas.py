"""Replicas failing under load, and what their metrics say."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from .stack import call, compose, connected, metric, record, wait_healthy

pytestmark = pytest.mark.stack

LOAD_SECONDS = 8


def test_metrics_count_requests_and_database_errors(staff_token, shoppers):
    requests = "cart_http_requests_total"
    labels = {"route": "cart/<id:user_id>", "method": "GET", "status": "200"}
    cart = f"/cart/{shoppers[0]}"
    before = metric("web1", requests, **labels)
    for _ in range(5):
        assert call("web1", "GET", cart, token=staff_token).status == 200
    assert metric("web1", requests, **labels) == before + 5

    errors_before = metric("web1", "cart_database_errors_total")
    compose("stop", "pgbouncer")
    try:
        outage = call("web1", "GET", cart, token=staff_token)
    finally:
        compose("start", "pgbouncer")
        wait_healthy("pgbouncer")
    assert outage.status == 503
    assert outage.body["errors"][0]["code"] == "service_unavailable"
    assert metric("web1", "cart_database_errors_total") == errors_before + 1
    assert call("web1", "GET", cart, token=staff_token).status == 200


def add_once(cart: str, product: str, token: str) -> tuple[int, int]:
    """POST one unit with an Idempotency-Key, again with the same key while the
    answer says it may not have been applied (502/504 from nginx, 503) or is
    still running (409 idempotency_key_in_use), as a careful client would:
    (first status, tries)."""
    key = uuid.uuid4().hex
    for tries in range(1, 21):
        answer = call(
            "web",
            "POST",
            f"/cart/{cart}",
            token=token,
            body={"product_id": product, "quantity": 1},
            headers={"Idempotency-Key": key},
        )
        if tries == 1:
            first = answer.status
        if answer.status in (200, 201):
            return first, tries
        # A failure is visible: a JSON error, never a success that was not.
        assert answer.status in (409, 502, 503, 504), answer
        assert answer.body["type"] in ("client_error", "server_error")
        time.sleep(0.2)
    raise AssertionError(f"POST {cart} with key {key} never succeeded")


def test_losing_a_replica_under_load_loses_no_read_and_no_write(staff_token, shoppers):
    """GETs and POSTs with an Idempotency-Key through nginx while web2 is
    killed. nginx passes an idempotent request that failed on to another
    replica, and a keyed POST too, even one lost inside the dying replica:
    the key applies it exactly once. So the client sees no failure at all."""
    stop = threading.Event()
    for cart in shoppers:
        call("web", "DELETE", f"/cart/{cart}", token=staff_token)
    # Every product in turn: a fast machine must not reach a line's limit.
    with connected("db") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id FROM carts_product WHERE active")
        products = [product for (product,) in cursor.fetchall()]

    def shopper(cart: str) -> tuple[str, list[int], list[tuple[int, int]]]:
        gets: list[int] = []
        posts: list[tuple[int, int]] = []
        while not stop.is_set():
            gets.append(call("web", "GET", f"/cart/{cart}", token=staff_token).status)
            product = products[len(posts) % len(products)]
            posts.append(add_once(cart, product, staff_token))
        return cart, gets, posts

    with ThreadPoolExecutor(len(shoppers)) as pool:
        running = [pool.submit(shopper, cart) for cart in shoppers]
        time.sleep(LOAD_SECONDS / 3)
        compose("kill", "web2")
        time.sleep(LOAD_SECONDS * 2 / 3)
        stop.set()
        results = [future.result() for future in running]
    compose("start", "web2")

    all_gets = [status for _, gets, _ in results for status in gets]
    all_posts = [post for _, _, posts in results for post in posts]
    failed_first = [first for first, _ in all_posts if first not in (200, 201)]
    record(
        f"replica loss: {len(all_gets)} GETs, {all_gets.count(200)} answered 200; "
        f"{len(all_posts)} keyed POSTs, {len(failed_first)} failed visibly at first "
        f"{failed_first}; each applied once"
    )
    assert all_gets == [200] * len(all_gets)
    assert failed_first == []
    for cart, _, posts in results:
        answer = call("web", "GET", f"/cart/{cart}", token=staff_token)
        assert answer.body["total_quantity"] == len(posts)  # each exactly once
    rejoined(f"/cart/{shoppers[0]}", staff_token)


def rejoined(path: str, token: str, timeout: float = 60) -> None:
    """web2 is back in nginx's rotation (nginx retries a failed replica after
    fail_timeout, 10 s), so later tests find all three replicas serving.
    Counted on a cart route: the health checks reach web2 directly."""
    wait_healthy("web2")
    labels = {"route": "cart/<id:user_id>"}
    before = metric("web2", "cart_http_requests_total", **labels)
    deadline = time.monotonic() + timeout
    while metric("web2", "cart_http_requests_total", **labels) == before:
        assert time.monotonic() < deadline, "nginx does not send to web2 again"
        for _ in range(6):
            call("web", "GET", path, token=token)
        time.sleep(0.5)
