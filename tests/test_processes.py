"""gunicorn's process model, for real: signals, worker death, recycling, logs."""

import http.client
import json
import os
import runpy
import signal
import threading
import time

import pytest
from django.db import connection, transaction
from gunicorn.ctl.client import ControlClient

from cartproject.worker import probe_answer
from carts.demo import LOAFERS
from carts.models import CartItem
from devtools.liveservice import ROOT, Gunicorn

from .conftest import database_url_for_tests


def requests_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        # Statistics are cached per transaction; the caller is inside one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


# Bounds far above the test's own waits (the defaults end a lock wait at 1 s).
PATIENT = {
    "DATABASE_LOCK_TIMEOUT": "30",
    "DATABASE_STATEMENT_TIMEOUT": "30",
    "DATABASE_QUERY_TIMEOUT": "30",
}


def test_sigterm_lets_the_request_in_flight_finish(alice, transactional_db, tmp_path):
    database_url = database_url_for_tests()
    with Gunicorn(database_url, tmp_path, env=PATIENT) as live_service:
        token = alice.token
        live_service.request(
            "POST", "/cart/alice", token=token, body={"product_id": LOAFERS}
        )
        answers = []
        with transaction.atomic():
            # Hold the line's row lock: the next add of it waits in the database.
            CartItem.objects.select_for_update().get(product_id=LOAFERS)
            in_flight = threading.Thread(
                target=lambda: answers.append(
                    live_service.request(
                        "POST", "/cart/alice", token=token, body={"product_id": LOAFERS}
                    )
                )
            )
            in_flight.start()
            live_service.wait_until(lambda: requests_waiting_for_a_lock() == 1)

            live_service.process.send_signal(signal.SIGTERM)
            time.sleep(1)
            assert live_service.process.poll() is None  # waiting for the worker
            assert not answers
        # The lock is released: the request completes, then gunicorn exits.
        in_flight.join(timeout=20)

        assert [answer.status for answer in answers] == [200]
        assert answers[0].body["quantity"] == 2
        assert live_service.process.wait(timeout=20) == 0
        assert "Shutting down: Master" in live_service.log()


def test_a_worker_killed_with_sigkill_is_replaced(live_service, catalog):
    workers = live_service.worker_pids()
    assert len(workers) == 2
    victim = min(workers)

    os.kill(victim, signal.SIGKILL)
    statuses = [live_service.request("GET", "/products").status for _ in range(5)]
    live_service.wait_until(
        lambda: len(live_service.worker_pids() - {victim}) == 2, timeout=20
    )
    statuses += [live_service.request("GET", "/products").status for _ in range(5)]

    assert statuses == [200] * 10
    assert victim not in live_service.worker_pids()


def test_workers_are_recycled_after_max_requests(transactional_db, tmp_path):
    recycling = {"GUNICORN_MAX_REQUESTS": "5", "GUNICORN_MAX_REQUESTS_JITTER": "2"}
    database_url = database_url_for_tests()
    with Gunicorn(database_url, tmp_path, workers=1, env=recycling) as server:
        first = server.worker_pids()
        statuses = [server.request("GET", "/healthz").status for _ in range(20)]
        server.wait_until(lambda: len(server.worker_pids()) == 1)

        assert statuses == [200] * 20
        assert server.worker_pids().isdisjoint(first)
        assert server.log().count("Autorestarting worker") >= 2


def test_production_config_recycles_workers_with_jitter(monkeypatch):
    monkeypatch.delenv("GUNICORN_MAX_REQUESTS", raising=False)
    monkeypatch.delenv("GUNICORN_MAX_REQUESTS_JITTER", raising=False)

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert config["max_requests"] > 0
    assert 0 < config["max_requests_jitter"] < config["max_requests"]


@pytest.mark.parametrize("log_level", ["INFO", "DEBUG"])
def test_tokens_never_appear_in_the_logs(
    alice, make_client, transactional_db, tmp_path, log_level
):
    token = alice.token
    mallory = make_client("mallory").token
    never_issued = "0123456789abcdef0123456789abcdef01234567"
    with Gunicorn(
        database_url_for_tests(), tmp_path, env={"LOG_LEVEL": log_level}
    ) as server:
        add = {"product_id": LOAFERS}
        answers = [
            server.request("POST", "/cart/alice", token=token, body=add),
            server.request("GET", "/cart/alice", token=token),
            server.request("POST", "/cart/alice", token=token, body={"bad": 1}),
            server.request("GET", "/cart/alice", token=mallory),
            server.request("GET", "/cart/alice", token=never_issued),
            server.request("GET", "/cart/nobody", token=token),
        ]
    log = server.log()

    assert [answer.status for answer in answers] == [201, 200, 400, 403, 401, 403]
    assert log.count('"GET /cart/alice HTTP/1.1"') == 3  # the log was written
    assert "Forbidden: /cart/alice" in log
    for secret in [token, mallory, never_issued]:
        assert secret not in log


def test_the_rate_limit_holds_across_processes(alice, transactional_db, tmp_path):
    shared = {"CART_THROTTLE_USER": "4/min", "CART_THROTTLE_CACHE_DIR": str(tmp_path)}
    url = database_url_for_tests()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        Gunicorn(url, tmp_path / "a", env=shared) as first,
        Gunicorn(url, tmp_path / "b", env=shared) as second,
    ):
        statuses = [
            server.request("GET", "/cart/alice", token=alice.token).status
            for server in [first, second] * 4
        ]

    assert statuses == [200] * 4 + [429] * 4


def master_behind(control_socket) -> int:
    """The pid of the gunicorn master that answers on this control socket."""
    with ControlClient(str(control_socket), timeout=5) as client:
        return client.send_command("show all")["arbiter"]["pid"]


def test_gunicorns_on_one_host_share_no_control_socket(transactional_db, tmp_path):
    """gunicorn's default control socket is one path per user
    (~/.gunicorn/gunicorn.ctl), which the last instance started would take
    from the others: the config makes none unless GUNICORN_CONTROL_SOCKET
    names the instance's own."""
    home = tmp_path / "home"
    one_user = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
    sockets = {name: tmp_path / f"{name}.ctl" for name in ("first", "second")}
    for name in ("first", "second", "plain"):
        (tmp_path / name).mkdir()
    url = database_url_for_tests()

    def server(name: str, **env: str) -> Gunicorn:
        return Gunicorn(url, tmp_path / name, workers=1, env={**one_user, **env})

    with (
        server("first", GUNICORN_CONTROL_SOCKET=str(sockets["first"])) as first,
        server("second", GUNICORN_CONTROL_SOCKET=str(sockets["second"])) as second,
        server("plain"),
    ):
        first.wait_until(sockets["first"].exists)
        second.wait_until(sockets["second"].exists)
        masters = [master_behind(sockets["first"]), master_behind(sockets["second"])]

        assert masters == [first.started().pid, second.started().pid]
        assert not (home / ".gunicorn").exists()


def test_a_chunked_body_is_not_read_past_the_limit(live_service, alice):
    chunks = (b'{"product_id": "' + b"x" * 1024 for _ in range(1024))  # 1 MiB
    connection = http.client.HTTPConnection("127.0.0.1", live_service.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/cart/alice",
            body=chunks,
            headers={
                "Authorization": f"Token {alice.token}",
                "Content-Type": "application/json",
                "Transfer-Encoding": "chunked",
            },
            encode_chunked=True,
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    # Without Content-Length, Django reads no body at all: an empty request.
    assert response.status == 400
    assert body["errors"][0]["code"] == "required"


@pytest.mark.parametrize(
    ("request_bytes", "answered"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"HEAD /healthz/ HTTP/1.0\r\n\r\n", True),
        (b"GET /healthz?x=1 HTTP/1.1\r\n\r\n", False),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", False),  # headers not all in
        (b"GET /healthz HTTP/1.1\r\n\r\nGET /cart/a HTTP/1.1\r\n\r\n", False),
        (b"POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", False),
        (b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", False),
        (b"GET /readyz HTTP/1.1\r\n\r\n", False),
    ],
)
def test_the_worker_answers_only_a_whole_lone_liveness_probe_itself(
    request_bytes, answered
):
    answer = probe_answer(request_bytes)

    assert (answer is not None) == answered
    if answer is not None:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close" in head
        assert body == (
            b"" if request_bytes.startswith(b"HEAD") else b'{"status": "ok"}'
        )
