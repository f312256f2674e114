"""Request ids, Prometheus metrics, and the token cache's pooler check, in
process (tests/stack proves them again on the compose stack)."""

import logging
import re

import pytest
from django.db import connection
from rest_framework.test import APIClient

from carts.api.observability import RequestIdLogFilter
from carts.auth.token_cache import reaches_server_directly

from .test_production_settings import run_python


def metric(client: APIClient, name: str, **labels: str) -> float:
    text = client.get("/metrics").content.decode()
    total = 0.0
    for sample, value in re.findall(r"^(\w+(?:\{[^}]*\})?) (\S+)$", text, re.M):
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if sample.split("{")[0] == name and labels.items() <= found.items():
            total += float(value)
    return total


def test_a_usable_request_id_from_the_client_comes_back(db):
    response = APIClient().get("/healthz", HTTP_X_REQUEST_ID="shop-42.a:b_c")

    assert response["X-Request-ID"] == "shop-42.a:b_c"


@pytest.mark.parametrize("given", [None, "two words", "x" * 129, "é"])
def test_otherwise_the_service_makes_one(db, given):
    headers = {"HTTP_X_REQUEST_ID": given} if given else {}

    response = APIClient().get("/healthz", **headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_log_lines_written_for_a_request_carry_its_id(db, caplog):
    caplog.handler.addFilter(RequestIdLogFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = APIClient().get("/no/such/page", HTTP_X_REQUEST_ID="trace-7")

    assert response.status_code == 404
    # Django logs the 404 after the middleware has returned.
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.request_id == "trace-7"
    # Gone once the response is closed.
    RequestIdLogFilter().filter(record)
    assert record.request_id == "-"


def test_requests_are_counted_by_route_method_and_status(catalog):
    client = APIClient()
    labels = {"route": "products/<id:product_id>", "method": "GET"}
    found = metric(client, "cart_http_requests_total", **labels, status="200")
    missing = metric(client, "cart_http_requests_total", **labels, status="404")
    timed = metric(client, "cart_http_request_duration_seconds_count", **labels)

    client.get("/products/L9ECAV7KIM")
    client.get("/products/L9ECAV7KIM/")
    client.get("/products/NOPE")

    assert metric(client, "cart_http_requests_total", **labels, status="200") == (
        found + 2
    )
    assert metric(client, "cart_http_requests_total", **labels, status="404") == (
        missing + 1
    )
    assert metric(client, "cart_http_request_duration_seconds_count", **labels) == (
        timed + 3
    )


def test_throttled_requests_are_counted_by_scope(catalog, settings):
    settings.CART_THROTTLE_RATES = {**settings.CART_THROTTLE_RATES, "anon": "1/min"}
    client = APIClient()
    before = metric(client, "cart_throttled_requests_total", scope="anon")

    statuses = [client.get("/products").status_code for _ in range(3)]

    assert statuses == [200, 429, 429]
    assert metric(client, "cart_throttled_requests_total", scope="anon") == before + 2


@pytest.mark.django_db
def test_the_test_databases_connection_is_direct():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT host(inet_server_addr()), inet_server_port()")
        host, port = cursor.fetchone()

    assert reaches_server_directly(connection.connection, host, port)


@pytest.mark.django_db
def test_a_connection_that_ends_elsewhere_than_the_server_is_not_direct():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT inet_server_port()")
        port = cursor.fetchone()[0]

    # What a pooler's connection looks like: the server listens elsewhere.
    assert not reaches_server_directly(connection.connection, "192.0.2.1", port)


def test_a_transaction_pooler_turns_the_token_cache_and_server_cursors_off():
    result = run_python(
        [
            "-c",
            "from django.conf import settings as s;"
            "print(s.CART_TOKEN_CACHE, "
            "s.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])",
        ],
        {
            "DATABASE_URL": "postgres://u:p@pgbouncer:6432/cart",
            "DATABASE_TRANSACTION_POOLER": "1",
        },
    )

    assert result.stdout.split() == ["False", "True"], result.stderr


def test_the_token_cache_cannot_be_forced_on_behind_a_transaction_pooler():
    result = run_python(
        ["-c", "from django.conf import settings; settings.CART_TOKEN_CACHE"],
        {"DATABASE_TRANSACTION_POOLER": "1", "CART_TOKEN_CACHE": "1"},
    )

    assert result.returncode != 0
    assert "CART_TOKEN_CACHE cannot work behind a transaction pooler" in result.stderr
