"""nginx at the edge: slow clients, the body limit, request ids, what it hides."""

import socket
import statistics
import threading
import time
import uuid

import pytest

from .stack import REPLICAS, call, logs, port, record

pytestmark = pytest.mark.stack

TRICKLERS = 50
TRICKLE_SECONDS = 20


def trickle(stop: threading.Event, cut_off: list[int]) -> None:
    """TRICKLERS slow clients, from one thread: each sends a request header a
    few bytes every 2 s, and starts again whenever the server gives up on it."""

    def opened() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port("web")), timeout=5)
        sock.sendall(b"GET /products HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return sock

    sockets = [opened() for _ in range(TRICKLERS)]
    try:
        while not stop.wait(2):
            for number, sock in enumerate(sockets):
                try:
                    sock.sendall(b"X-a: b\r\n")
                except OSError:
                    cut_off.append(number)
                    sock.close()
                    sockets[number] = opened()
    finally:
        for sock in sockets:
            sock.close()


def test_slow_clients_leave_normal_requests_answered_within_a_second(
    staff_token, shoppers
):
    # Every worker thread of every replica has its database connection and its
    # imports done: a cold start is not what this test is about.
    for replica in REPLICAS:
        for _ in range(24):
            call(replica, "GET", f"/cart/{shoppers[0]}", token=staff_token)
    stop, cut_off = threading.Event(), []
    trickler = threading.Thread(target=trickle, args=(stop, cut_off), daemon=True)
    trickler.start()
    answers = []
    try:
        time.sleep(2)  # every slow connection is open
        deadline = time.monotonic() + TRICKLE_SECONDS - 2
        while time.monotonic() < deadline:
            answers.append(
                call("web", "GET", f"/cart/{shoppers[0]}", token=staff_token)
            )
            answers.append(call("web", "GET", "/healthz"))
            time.sleep(0.5)
    finally:
        stop.set()
        trickler.join(timeout=10)

    seconds = [answer.seconds for answer in answers]
    slowest = max(answers, key=lambda answer: answer.seconds)
    [slowest_in_nginx] = [
        line
        for line in logs("nginx")
        if f"request_id={slowest.headers['X-Request-ID']}" in line
    ]
    record(
        f"slow clients: {TRICKLERS} trickling {TRICKLE_SECONDS} s "
        f"({len(cut_off)} cut off by nginx); {len(answers)} normal requests, "
        f"latency median {statistics.median(seconds) * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms; the slowest in nginx's log: "
        f"{slowest_in_nginx.split('|', 1)[1].strip()}"
    )
    assert [answer.status for answer in answers] == [200] * len(answers)
    assert max(seconds) < 1.0


def test_a_body_over_64_kib_gets_the_services_413_from_nginx(staff_token, shoppers):
    def post_body(service: str, size: int):
        return call(
            service,
            "POST",
            f"/cart/{shoppers[0]}",
            token=staff_token,
            body=b"{" + b" " * (size - 2) + b"}",
            headers={"Content-Type": "application/json"},
        )

    too_large = post_body("web", 64 * 1024 + 1)
    at_the_limit = post_body("web", 64 * 1024)
    # What the service itself answers (carts.api.middleware).
    from_replica = post_body("web1", 64 * 1024 + 1)

    assert too_large.status == from_replica.status == 413
    assert too_large.body == from_replica.body
    assert at_the_limit.status == 400  # read, and refused as a bad cart line


def test_metrics_are_not_published_through_nginx():
    for path in ("/metrics", "/metrics/"):
        answer = call("web", "GET", path)
        assert answer.status == 404
        assert answer.body["errors"][0]["code"] == "not_found"
    assert call("web1", "GET", "/metrics").status == 200


def test_static_files_come_from_nginx():
    answer = call("web", "GET", "/static/admin/css/base.css")

    assert answer.status == 200
    assert "body" in answer.body
    assert answer.headers["Cache-Control"] == "max-age=86400"


def lines_with(request_id: str, services: tuple[str, ...]) -> list[str]:
    return [line for line in logs(*services) if request_id in line]


def test_the_request_id_is_in_the_answer_and_every_log_line_of_the_request():
    given = f"stack-{uuid.uuid4().hex}"
    path = f"/no-such-page-{given}"  # Django logs a warning for it, too

    answer = call("web", "GET", path, headers={"X-Request-ID": given})

    assert answer.status == 404
    assert answer.headers.get_all("X-Request-ID") == [given]
    lines = [line for line in logs("nginx", *REPLICAS) if path in line]
    # nginx's access line and Django's "Not Found"; the replicas write no
    # access line of their own behind nginx (GUNICORN_ACCESS_LOG=0).
    assert len(lines) == 2, lines
    assert all(f"request_id={given}" in line for line in lines), lines
    assert any("nginx" in line.split("|")[0] for line in lines)
    assert any("WARNING django.request" in line for line in lines)


@pytest.mark.parametrize("given", [None, "has spaces and ;", "x" * 129])
def test_nginx_makes_a_request_id_when_the_client_gives_no_usable_one(given):
    headers = {"X-Request-ID": given} if given else {}
    # A path Django logs (Not Found), so the replica writes a line with the id
    # it was given; it writes no access line of its own behind nginx.
    path = f"/no-such-page-{uuid.uuid4().hex}"

    answer = call("web", "GET", path, headers=headers)

    assert answer.status == 404
    request_id = answer.headers["X-Request-ID"]
    assert request_id != given
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    replica_lines = [line for line in logs(*REPLICAS) if path in line]
    assert replica_lines
    assert all(f"request_id={request_id}" in line for line in replica_lines)
