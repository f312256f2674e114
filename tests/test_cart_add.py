import pytest
from django.test import override_settings

from carts.demo import LOAFERS, SHAKERS
from carts.models import Product

from .conftest import cart_lines, error_codes


def test_adding_same_product_twice_merges_into_one_line(alice):
    first = alice.post(
        "/cart/alice", {"product_id": LOAFERS, "quantity": 8}, format="json"
    )
    second = alice.post(
        "/cart/alice", {"product_id": LOAFERS, "quantity": 8}, format="json"
    )

    assert first.status_code == 201
    assert first.json() == {
        "product_id": LOAFERS,
        "name": "Loafers",
        "quantity": 8,
        "unit_price": "89.99",
        "line_total": "719.92",
        "added_unit_price": "89.99",
        "available": True,
    }
    assert second.status_code == 200
    assert second.json()["quantity"] == 16
    assert second.json()["line_total"] == "1439.84"
    assert cart_lines("alice") == [(LOAFERS, 16)]


def test_quantity_defaults_to_one(alice):
    response = alice.post("/cart/alice", {"product_id": SHAKERS}, format="json")

    assert response.status_code == 201
    assert response.json()["quantity"] == 1


def test_trailing_slash_adds_without_redirect(alice):
    response = alice.post("/cart/alice/", {"product_id": SHAKERS}, format="json")

    assert response.status_code == 201
    assert cart_lines("alice") == [(SHAKERS, 1)]


def test_line_total_is_exact_decimal(alice):
    response = alice.post(
        "/cart/alice", {"product_id": SHAKERS, "quantity": 3}, format="json"
    )

    assert response.json()["unit_price"] == "18.49"
    assert response.json()["line_total"] == "55.47"


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({}, "product_id", "required"),
        ({"quantity": 2}, "product_id", "required"),
        ({"product_id": ""}, "product_id", "blank"),
        ({"product_id": "X" * 65}, "product_id", "max_length"),
        ({"product_id": None}, "product_id", "null"),
        ({"product_id": LOAFERS, "quantity": 0}, "quantity", "min_value"),
        ({"product_id": LOAFERS, "quantity": -1}, "quantity", "min_value"),
        ({"product_id": LOAFERS, "quantity": 1.5}, "quantity", "invalid"),
        ({"product_id": LOAFERS, "quantity": 2.0}, "quantity", "invalid"),
        ({"product_id": LOAFERS, "quantity": True}, "quantity", "invalid"),
        ({"product_id": LOAFERS, "quantity": None}, "quantity", "null"),
        ({"product_id": LOAFERS, "quantity": "abc"}, "quantity", "invalid"),
        ({"product_id": LOAFERS, "quantity": "3"}, "quantity", "invalid"),
        ({"product_id": LOAFERS, "colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_bad_body_is_rejected_and_cart_unchanged(alice, body, attr, code):
    alice.post("/cart/alice", {"product_id": SHAKERS, "quantity": 2}, format="json")

    response = alice.post("/cart/alice", body, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert {"attr": attr, "code": code} in [
        {"attr": e["attr"], "code": e["code"]} for e in response.json()["errors"]
    ]
    assert cart_lines("alice") == [(SHAKERS, 2)]


@pytest.mark.parametrize(
    "raw", ['[{"product_id": "L9ECAV7KIM"}]', '"L9ECAV7KIM"', "42"]
)
def test_body_that_is_not_an_object_is_rejected(alice, raw):
    response = alice.post("/cart/alice", raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert error_codes(response) == ["invalid"]
    assert cart_lines("alice") == []


def test_malformed_json_is_a_parse_error(alice):
    response = alice.post(
        "/cart/alice", '{"product_id": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == ["parse_error"]
    assert cart_lines("alice") == []


def test_non_json_body_is_unsupported_media_type(alice):
    response = alice.post(
        "/cart/alice", "product_id=L9ECAV7KIM", content_type="text/plain"
    )

    assert response.status_code == 415
    assert error_codes(response) == ["unsupported_media_type"]


def test_unknown_product_is_404(alice):
    response = alice.post("/cart/alice", {"product_id": "NOPE"}, format="json")

    assert response.status_code == 404
    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "product_not_found",
                "detail": "Product 'NOPE' does not exist.",
                "attr": None,
            }
        ],
    }
    assert cart_lines("alice") == []


def test_inactive_product_is_404(alice):
    Product.objects.filter(pk=LOAFERS).update(active=False)

    response = alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")

    assert response.status_code == 404
    assert error_codes(response) == ["product_not_found"]


@override_settings(CART_MAX_LINE_QUANTITY=10)
def test_line_may_reach_but_not_exceed_quantity_limit(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS, "quantity": 6}, format="json")

    over = alice.post(
        "/cart/alice", {"product_id": LOAFERS, "quantity": 5}, format="json"
    )
    exact = alice.post(
        "/cart/alice", {"product_id": LOAFERS, "quantity": 4}, format="json"
    )

    assert over.status_code == 409
    assert error_codes(over) == ["quantity_limit_exceeded"]
    assert exact.status_code == 200
    assert cart_lines("alice") == [(LOAFERS, 10)]


def test_default_quantity_limit_is_1000(alice):
    at_limit = alice.post(
        "/cart/alice", {"product_id": LOAFERS, "quantity": 1000}, format="json"
    )
    over = alice.post(
        "/cart/alice", {"product_id": LOAFERS, "quantity": 1}, format="json"
    )

    assert at_limit.status_code == 201
    assert over.status_code == 409
    assert cart_lines("alice") == [(LOAFERS, 1000)]


@pytest.mark.parametrize("quantity", [1001, 10**20])
def test_huge_quantity_is_over_the_limit_not_a_server_error(alice, quantity):
    response = alice.post(
        "/cart/alice", {"product_id": LOAFERS, "quantity": quantity}, format="json"
    )

    assert response.status_code == 409
    assert error_codes(response) == ["quantity_limit_exceeded"]
    assert cart_lines("alice") == []


@override_settings(CART_MAX_LINES=2)
def test_new_line_beyond_line_limit_is_refused_but_merges_still_work(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")
    alice.post("/cart/alice", {"product_id": SHAKERS}, format="json")

    third = alice.post("/cart/alice", {"product_id": "6E92ZMYYFZ"}, format="json")
    merge = alice.post("/cart/alice", {"product_id": SHAKERS}, format="json")

    assert third.status_code == 409
    assert error_codes(third) == ["cart_line_limit_exceeded"]
    assert merge.status_code == 200
    assert cart_lines("alice") == [(LOAFERS, 1), (SHAKERS, 2)]
