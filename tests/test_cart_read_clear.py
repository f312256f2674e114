from decimal import Decimal

from .conftest import add, cart_lines


def test_reading_the_cart_lists_lines_in_add_order_with_totals(alice):
    add(alice, "alice", "L9ECAV7KIM", 8)
    add(alice, "alice", "LS4PSXUNUM", 3)
    add(alice, "alice", "L9ECAV7KIM", 8)  # a merge keeps the line's place

    response = alice.get("/cart/alice")

    assert response.status_code == 200
    assert response.json() == {
        "user_id": "alice",
        "items": [
            {
                "product_id": "L9ECAV7KIM",
                "name": "Loafers",
                "quantity": 16,
                "unit_price": "89.99",
                "line_total": "1439.84",
                "added_unit_price": "89.99",
                "available": True,
            },
            {
                "product_id": "LS4PSXUNUM",
                "name": "Salt & Pepper Shakers",
                "quantity": 3,
                "unit_price": "18.49",
                "line_total": "55.47",
                "added_unit_price": "18.49",
                "available": True,
            },
        ],
        "total_quantity": 19,
        "subtotal": "1495.31",
        "currency": "USD",
        "warnings": [],
        "checkout": None,
    }


def test_empty_cart_is_200_with_zero_totals(alice):
    response = alice.get("/cart/alice/")

    assert response.status_code == 200
    assert response.json() == {
        "user_id": "alice",
        "items": [],
        "total_quantity": 0,
        "subtotal": "0.00",
        "currency": "USD",
        "warnings": [],
        "checkout": None,
    }


def test_subtotal_is_exact_where_floats_would_drift(alice):
    # 0.1-style sums drift in binary floating point; Decimal must not.
    for product_id, quantity in [
        ("9SIQT8TOJO", 7),
        ("6E92ZMYYFZ", 3),
        ("LS4PSXUNUM", 11),
    ]:
        add(alice, "alice", product_id, quantity)

    body = alice.get("/cart/alice").json()

    expected = Decimal("5.49") * 7 + Decimal("8.99") * 3 + Decimal("18.49") * 11
    assert body["subtotal"] == str(expected) == "268.79"
    assert body["total_quantity"] == 21


def test_cart_shows_current_price(alice):
    from carts.models import Product

    add(alice, "alice", "6E92ZMYYFZ", 2)
    Product.objects.filter(pk="6E92ZMYYFZ").update(price=Decimal("10.00"))

    line = alice.get("/cart/alice").json()["items"][0]

    assert line["unit_price"] == "10.00"
    assert line["line_total"] == "20.00"


def test_currency_follows_setting(alice, settings):
    settings.CART_CURRENCY = "EUR"

    assert alice.get("/cart/alice").json()["currency"] == "EUR"


def test_clearing_empties_the_cart(alice):
    add(alice, "alice", "L9ECAV7KIM", 2)
    add(alice, "alice", "LS4PSXUNUM", 1)

    response = alice.delete("/cart/alice")

    assert response.status_code == 204
    assert response.content == b""
    assert cart_lines("alice") == []


def test_clearing_is_idempotent(alice, staff):
    assert alice.delete("/cart/alice").status_code == 204
    assert alice.delete("/cart/alice/").status_code == 204
    assert staff.delete("/cart/alice").status_code == 204


def test_clearing_only_touches_that_users_cart(alice, make_client):
    bob = make_client("bob")
    add(alice, "alice", "L9ECAV7KIM", 2)
    add(bob, "bob", "L9ECAV7KIM", 5)

    alice.delete("/cart/alice")

    assert cart_lines("bob") == [("L9ECAV7KIM", 5)]
