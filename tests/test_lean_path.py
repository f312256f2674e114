"""The lean request path answers exactly as the stock one.

The lean handler (cartproject.lean) against Django's full stack, and the
views' base class (carts.api.base.CartAPIView) against DRF's APIView: every
request below goes through both from the same database state (each answer's
changes are rolled back), and the two answers must agree in status, headers
and body, byte for byte. The request id is the only header that differs by
design (a new one per request).
"""

import io
import json
import re

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from rest_framework.views import APIView

from cartproject.lean import takes_lean_path
from cartproject.wsgi import application
from carts.api.base import CartAPIView

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


@pytest.fixture
def etag(alice) -> str:
    """The state every answer starts from: alice has one line."""
    add(alice, "alice", LOAFERS, 1)
    return alice.get("/cart/alice")["ETag"]


def answers(handler, alice, staff, etag: str) -> list[tuple]:
    """The handler's answers to the corpus."""
    given = []
    for method, path, token, body, headers in requests(alice.token, staff.token, etag):
        env = environ(method, path, token, body, **headers)
        assert takes_lean_path(env), path
        status, kept, content = answer(handler, env)
        if path == "/guests":  # a new guest each time: compare all but its body
            content = b""
        given.append(
            ((method, path, headers), status, without_generation(kept), content)
        )
    return given


def without_generation(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A cart created by a request draws a random generation, shown in its
    ETag's version (API.md, "Versions and ETags"): the counter and the tag
    must agree, and every other header."""
    return [
        (name, re.sub(r'^"(\d+)-', lambda m: f'"{int(m[1]) % 2**32}-', value))
        if name == "etag"
        else (name, value)
        for name, value in headers
    ]


def assert_reaches_every_kind_of_answer(given: list[tuple]) -> None:
    # The corpus reaches every kind of answer, not just errors.
    assert {status[:3] for _, status, _, _ in given} >= {
        *("200", "201", "204", "304", "400", "401", "403", "404"),
        *("405", "406", "409", "412"),
    }


def test_the_lean_handler_answers_as_the_full_stack(alice, staff, etag):
    full = answers(application.full, alice, staff, etag)
    lean = answers(application.lean, alice, staff, etag)

    assert len(lean) == len(full) == len(requests("", "", ""))
    for lean_answer, full_answer in zip(lean, full, strict=True):
        assert lean_answer == full_answer
    assert_reaches_every_kind_of_answer(full)


# What CartAPIView overrides of DRF's APIView.
SHARED_COLLABORATORS = (
    "get_authenticators",
    "get_permissions",
    "get_parsers",
    "get_throttles",
    "get_content_negotiator",
    "default_response_headers",
)


def test_the_views_shared_collaborators_answer_as_drfs_apiview(
    alice, staff, etag, monkeypatch
):
    shared = answers(application.lean, alice, staff, etag)
    for name in SHARED_COLLABORATORS:
        assert name in vars(CartAPIView), name
        monkeypatch.setattr(CartAPIView, name, vars(APIView)[name])
    stock = answers(application.lean, alice, staff, etag)

    for shared_answer, stock_answer in zip(shared, stock, strict=True):
        assert shared_answer == stock_answer
    assert_reaches_every_kind_of_answer(stock)
    assert set(SHARED_COLLABORATORS) == {
        name for name in vars(CartAPIView) if not name.startswith("__")
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
