"""The lean handler (cartproject.lean) answers exactly as Django's full stack.

Every request below goes through both handlers from the same database state
(each answer's changes are rolled back), and the two answers must agree in
status, headers and body, byte for byte. The request id is the only header
that differs by design (a new one per request).
"""

import io
import json

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction

from cartproject.lean import takes_lean_path
from cartproject.wsgi import application

from .conftest import add

LOAFERS, MUG = "L9ECAV7KIM", "6E92ZMYYFZ"
PER_REQUEST_HEADERS = {"x-request-id"}


def environ(method: str, path: str, token: str | None, body=None, **headers) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    raw = b"" if body is None else raw
    path, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": "application/json" if body is not None else "",
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Token {token}"
    env.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return env


def answer(handler, env: dict) -> tuple:
    """(status, headers, body) of one request, its changes rolled back. As in
    Django's test client, the handler must not close the connection that
    holds the test's transaction."""
    started = []
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with transaction.atomic():
            chunks = handler(env, lambda s, h, exc=None: started.append((s, h)))
            body = b"".join(chunks)
            chunks.close()  # request_finished, as a WSGI server does
            transaction.set_rollback(True)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    status, headers = started[0]
    kept = sorted(
        (k.lower(), v) for k, v in headers if k.lower() not in PER_REQUEST_HEADERS
    )
    return status, kept, body


def requests(owner: str, staff: str, etag: str) -> list[tuple]:
    """(method, path, token, body, headers) covering every branch of the API."""
    line = {"product_id": LOAFERS, "quantity": 2}
    return [
        ("GET", "/cart/alice", owner, None, {}),
        ("GET", "/cart/alice/", owner, None, {"ACCEPT": "application/json"}),
        ("GET", "/cart/alice", owner, None, {"ACCEPT": "text/html"}),
        ("GET", "/cart/alice", owner, None, {"IF_NONE_MATCH": etag}),
        ("GET", "/cart/bob", owner, None, {}),
        ("GET", "/cart/nobody", staff, None, {}),
        ("GET", "/cart/alice", "not-a-token", None, {}),
        ("POST", "/cart/alice", owner, line, {}),
        ("POST", "/cart/alice", owner, {"product_id": MUG}, {}),
        ("POST", "/cart/alice", owner, {**line, "quantity": 1001}, {}),
        ("POST", "/cart/alice", owner, {**line, "colour": "red"}, {}),
        ("POST", "/cart/alice", owner, {"product_id": "NOPE"}, {}),
        ("POST", "/cart/alice", owner, b"{not json", {}),
        ("POST", "/cart/alice", owner, line, {"IF_MATCH": '"0-stale"'}),
        ("POST", "/cart/alice", owner, line, {"IDEMPOTENCY_KEY": "k1"}),
        ("POST", "/cart/alice", owner, line, {"IDEMPOTENCY_KEY": "bad key"}),
        ("POST", f"/cart/new-shopper?product_id={LOAFERS}&quantity=3", staff, None, {}),
        ("PUT", f"/cart/alice/items/{LOAFERS}", owner, {"quantity": 5}, {}),
        ("PUT", f"/cart/alice/items/{LOAFERS}", owner, {"quantity": 0}, {}),
        ("DELETE", f"/cart/alice/items/{MUG}", owner, None, {}),
        ("DELETE", "/cart/alice", owner, None, {"IF_MATCH": etag}),
        ("PATCH", "/cart/alice", owner, line, {}),
        ("OPTIONS", "/cart/alice", owner, None, {}),
        ("POST", "/cart/alice/merge", owner, {"guest_token": "0" * 40}, {}),
        ("POST", "/cart/alice/merge", owner, {}, {}),
        ("GET", "/products", owner, None, {}),
        ("GET", f"/products/{MUG}", owner, None, {}),
        ("GET", "/products/NOPE", owner, None, {}),
        ("GET", "/cart/alice/items", owner, None, {}),
        ("POST", "/guests", owner, None, {}),
    ]


def test_the_lean_handler_answers_as_the_full_stack(alice, staff):
    add(alice, "alice", LOAFERS, 1)
    etag = alice.get("/cart/alice")["ETag"]

    compared, statuses = 0, set()
    for method, path, token, body, headers in requests(alice.token, staff.token, etag):
        env = environ(method, path, token, body, **headers)
        assert takes_lean_path(env), path
        full = answer(application.full, environ(method, path, token, body, **headers))
        lean = answer(application.lean, env)
        if path == "/guests":  # a new guest each time: compare all but its body
            full, lean = full[:2], lean[:2]
        assert lean == full, (method, path, headers)
        statuses.add(full[0])
        compared += 1

    assert compared == len(requests("", "", ""))
    # The corpus reaches every kind of answer, not just errors.
    assert {status[:3] for status in statuses} >= {
        *("200", "201", "204", "304", "400", "401", "403", "404"),
        *("405", "406", "409", "412"),
    }


@pytest.mark.parametrize(
    ("path", "headers", "lean"),
    [
        ("/cart/alice", {"HTTP_AUTHORIZATION": "Token abc"}, True),
        ("/cart/alice", {"HTTP_AUTHORIZATION": "token abc"}, True),
        ("/cart/alice", {"HTTP_AUTHORIZATION": "Bearer abc"}, False),
        ("/cart/alice", {}, False),
        ("/cart/alice", {"HTTP_AUTHORIZATION": "Token a", "HTTP_COOKIE": "x=1"}, False),
        ("/admin/", {"HTTP_AUTHORIZATION": "Token abc"}, False),
        ("/api/docs", {"HTTP_AUTHORIZATION": "Token abc"}, False),
    ],
)
def test_only_token_requests_to_the_api_without_cookies_take_the_lean_path(
    path, headers, lean
):
    assert takes_lean_path({"PATH_INFO": path, **headers}) is lean
