"""Persistent connections: checked without a round trip, replaced when dead.

Django's test client skips the request_started/finished signals that check
persistent connections, so each test sends the signal's work itself.
"""

import os
import select

import psycopg2
import pytest
from django.db import close_old_connections, connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


def request_cart(client) -> int:
    close_old_connections()  # what each real request starts with
    return client.get("/cart/alice").status_code


def test_a_healthy_connection_is_reused_without_select_1(alice, monkeypatch):
    request_cart(alice)
    backend = connection.connection.get_backend_pid()
    checks = []
    monkeypatch.setattr(
        type(connections["default"]), "is_usable", lambda self: not checks.append(1)
    )

    assert request_cart(alice) == 200
    assert checks == []
    assert connection.connection.get_backend_pid() == backend


def test_a_connection_the_server_ended_is_replaced_before_use(alice):
    request_cart(alice)
    backend = connection.connection.get_backend_pid()
    with psycopg2.connect(os.environ["DATABASE_URL"]) as admin, admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [backend])
    # The server's goodbye reaches the socket.
    select.select([connection.connection.fileno()], [], [], 5)

    assert request_cart(alice) == 200
    assert connection.connection.get_backend_pid() != backend
