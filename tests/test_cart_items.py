import pytest
from django.test import override_settings

from carts.demo import LOAFERS, MUG

from .conftest import cart_lines, error_codes


def put(client, path, body):
    return client.put(path, body, format="json")


def test_setting_quantity_replaces_it(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS, "quantity": 8}, format="json")

    response = put(alice, f"/cart/alice/items/{LOAFERS}", {"quantity": 3})

    assert response.status_code == 200
    assert response.json() == {
        "product_id": LOAFERS,
        "name": "Loafers",
        "quantity": 3,
        "unit_price": "89.99",
        "line_total": "269.97",
        "added_unit_price": "89.99",
        "available": True,
    }
    assert cart_lines("alice") == [(LOAFERS, 3)]


def test_setting_quantity_of_absent_product_creates_line(alice):
    response = put(alice, f"/cart/alice/items/{MUG}/", {"quantity": 2})

    assert response.status_code == 201
    assert response.json()["line_total"] == "17.98"
    assert cart_lines("alice") == [(MUG, 2)]


def test_setting_quantity_keeps_line_position(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")
    alice.post("/cart/alice", {"product_id": MUG}, format="json")

    put(alice, f"/cart/alice/items/{LOAFERS}", {"quantity": 5})

    assert cart_lines("alice") == [(LOAFERS, 5), (MUG, 1)]


def test_setting_quantity_zero_removes_line(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS, "quantity": 8}, format="json")

    response = put(alice, f"/cart/alice/items/{LOAFERS}", {"quantity": 0})

    assert response.status_code == 204
    assert cart_lines("alice") == []


def test_setting_quantity_zero_on_absent_line_is_a_no_op(alice):
    response = put(alice, f"/cart/alice/items/{LOAFERS}", {"quantity": 0})

    assert response.status_code == 204
    assert cart_lines("alice") == []


@pytest.mark.parametrize("quantity", [0, 4])
def test_setting_quantity_of_unknown_product_is_404(alice, quantity):
    response = put(alice, "/cart/alice/items/NOPE", {"quantity": quantity})

    assert response.status_code == 404
    assert error_codes(response) == ["product_not_found"]


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({}, "quantity", "required"),
        ({"quantity": -1}, "quantity", "min_value"),
        ({"quantity": 1.5}, "quantity", "invalid"),
        ({"quantity": True}, "quantity", "invalid"),
        ({"quantity": None}, "quantity", "null"),
        ({"quantity": "abc"}, "quantity", "invalid"),
        ({"quantity": 2, "product_id": MUG}, "product_id", "unknown_field"),
    ],
)
def test_bad_set_body_is_rejected_and_cart_unchanged(alice, body, attr, code):
    alice.post("/cart/alice", {"product_id": LOAFERS, "quantity": 2}, format="json")

    response = put(alice, f"/cart/alice/items/{LOAFERS}", body)

    assert response.status_code == 400
    assert {"attr": attr, "code": code} in [
        {"attr": e["attr"], "code": e["code"]} for e in response.json()["errors"]
    ]
    assert cart_lines("alice") == [(LOAFERS, 2)]


@pytest.mark.parametrize("quantity", [1001, 10**20])
def test_setting_quantity_over_limit_is_409(alice, quantity):
    alice.post("/cart/alice", {"product_id": LOAFERS, "quantity": 2}, format="json")

    response = put(alice, f"/cart/alice/items/{LOAFERS}", {"quantity": quantity})

    assert response.status_code == 409
    assert error_codes(response) == ["quantity_limit_exceeded"]
    assert cart_lines("alice") == [(LOAFERS, 2)]


@override_settings(CART_MAX_LINES=1)
def test_setting_new_line_beyond_line_limit_is_409(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")

    refused = put(alice, f"/cart/alice/items/{MUG}", {"quantity": 1})
    existing = put(alice, f"/cart/alice/items/{LOAFERS}", {"quantity": 7})

    assert refused.status_code == 409
    assert error_codes(refused) == ["cart_line_limit_exceeded"]
    assert existing.status_code == 200
    assert cart_lines("alice") == [(LOAFERS, 7)]


def test_removing_a_line(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")
    alice.post("/cart/alice", {"product_id": MUG}, format="json")

    response = alice.delete(f"/cart/alice/items/{LOAFERS}")

    assert response.status_code == 204
    assert cart_lines("alice") == [(MUG, 1)]


def test_removing_absent_line_is_404(alice):
    response = alice.delete(f"/cart/alice/items/{LOAFERS}/")

    assert response.status_code == 404
    assert error_codes(response) == ["line_not_found"]
