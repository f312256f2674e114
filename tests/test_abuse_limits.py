"""Abuse limits: request bodies over 64 KiB or nested too deep, and per-user /
per-IP rates."""

import http.client
import json

import pytest
from rest_framework.test import APIClient

from carts.api.parsers import MAX_NESTING
from carts.demo import LOAFERS

from .conftest import cart_lines, error_codes
from .test_guests_and_merge import new_guest

LIMIT = 64 * 1024


def body_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes, with an over-long product id."""
    skeleton = json.dumps({"product_id": ""}).encode()
    return json.dumps({"product_id": "x" * (size - len(skeleton))}).encode()


def post_raw(client, path: str, body: bytes):
    return client.generic("POST", path, body, content_type="application/json")


def test_a_body_over_64_kib_is_413_and_changes_nothing(alice):
    response = post_raw(alice, "/cart/alice", body_of_size(LIMIT + 1))

    assert response.status_code == 413
    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "request_too_large",
                "detail": "The request body is larger than 65536 bytes.",
                "attr": None,
            }
        ],
    }
    assert cart_lines("alice") == []


def test_a_body_of_exactly_64_kib_is_read_and_validated(alice):
    response = post_raw(alice, "/cart/alice", body_of_size(LIMIT))

    assert response.status_code == 400
    assert error_codes(response) == ["max_length"]


@pytest.mark.parametrize("path", ["/products", "/admin/login/", "/no/such/path"])
def test_the_size_limit_holds_on_every_path(catalog, path):
    response = post_raw(APIClient(), path, body_of_size(LIMIT + 1))

    assert response.status_code == 413
    assert error_codes(response) == ["request_too_large"]


def deeply_nested(body: dict, depth: int = 1000) -> bytes:
    """`body` with an unknown member holding `depth` arrays inside each other
    (about 2 KB): what once raised RecursionError in the parser."""
    return (
        json.dumps(body)[:-1].encode() + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
    )


NESTED_WRITES = [
    ("POST", "/cart/{user_id}", {"product_id": LOAFERS}),
    ("POST", "/cart/{user_id}/merge", {"guest_token": "x"}),
    ("PUT", "/cart/{user_id}/items/" + LOAFERS, {"quantity": 1}),
]
NESTING_TOO_DEEP = {
    "type": "client_error",
    "errors": [
        {
            "code": "parse_error",
            "detail": f"JSON parse error - nested deeper than {MAX_NESTING} levels.",
            "attr": None,
        }
    ],
}


@pytest.mark.parametrize(("method", "path", "body"), NESTED_WRITES)
def test_deeply_nested_json_is_400_parse_error(catalog, method, path, body):
    user_id, guest = new_guest()

    response = guest.generic(
        method,
        path.format(user_id=user_id),
        deeply_nested(body),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == NESTING_TOO_DEEP
    assert cart_lines(user_id) == []


def test_nesting_up_to_the_limit_is_parsed_and_brackets_in_strings_do_not_count(
    alice,
):
    levels = MAX_NESTING - 1  # inside the body's own object
    body = (
        b'{"product_id": "'
        + b"[" * 100
        + b'", "x": '
        + b"[" * levels
        + b"]" * levels
        + b"}"
    )

    response = post_raw(alice, "/cart/alice", body)

    assert response.status_code == 400
    assert error_codes(response) == ["unknown_field"]


def test_the_live_service_answers_nested_json_without_a_traceback(live_service):
    user_id, token = new_guest_of(live_service)

    for method, path, body in NESTED_WRITES:
        connection = http.client.HTTPConnection("127.0.0.1", live_service.port)
        connection.request(
            method,
            path.format(user_id=user_id),
            body=deeply_nested(body),
            headers={
                "Authorization": f"Token {token}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (
            400,
            NESTING_TOO_DEEP,
        )
        connection.close()

    assert "Traceback" not in live_service.log()
    assert "RecursionError" not in live_service.log()


def new_guest_of(server) -> tuple[str, str]:
    answer = server.request("POST", "/guests")
    assert answer.status == 201
    return answer.body["user_id"], answer.body["token"]


def set_rate(settings, scope: str, rate: str) -> None:
    settings.CART_THROTTLE_RATES = {**settings.CART_THROTTLE_RATES, scope: rate}


def test_a_user_over_the_rate_gets_429_with_retry_after(alice, make_client, settings):
    set_rate(settings, "user", "3/min")

    statuses = [alice.get("/cart/alice").status_code for _ in range(3)]
    refused = alice.post("/cart/alice", {"product_id": "L9ECAV7KIM"}, format="json")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["type"] == "client_error"
    assert error_codes(refused) == ["throttled"]
    assert cart_lines("alice") == []
    # The limit is per user: another shopper is not affected.
    assert make_client("bob").get("/cart/bob").status_code == 200


def test_staff_accounts_have_their_own_rate(staff, alice, settings):
    set_rate(settings, "user", "1/min")
    set_rate(settings, "staff", "2/min")

    statuses = [staff.get("/cart/alice").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_anonymous_requests_are_limited_per_ip_address(catalog, settings):
    set_rate(settings, "anon", "2/min")
    client = APIClient(REMOTE_ADDR="192.0.2.10")

    statuses = [client.get("/products").status_code for _ in range(2)]
    # Claiming another address in X-Forwarded-For does not reset the count.
    spoofed = client.get("/products", HTTP_X_FORWARDED_FOR="198.51.100.7")
    other_address = APIClient(REMOTE_ADDR="192.0.2.11").get("/products")

    assert statuses == [200, 200]
    assert spoofed.status_code == 429
    assert other_address.status_code == 200


def test_health_probes_are_never_limited(db, settings):
    set_rate(settings, "anon", "1/min")

    statuses = [APIClient().get("/healthz").status_code for _ in range(5)]

    assert statuses == [200] * 5


def test_a_failing_throttle_cache_lets_requests_through(
    alice, settings, tmp_path, caplog
):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(not_a_directory / "throttle"),
        },
    }

    response = alice.get("/cart/alice")

    assert response.status_code == 200
    assert "throttle cache failed" in caplog.text
