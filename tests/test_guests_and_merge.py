"""Guests (POST /guests) and the merge of a guest's cart at login (API.md v2)."""

import re

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from carts.demo import LOAFERS, MUG, SHAKERS
from carts.demo import TANK_TOP as TANK
from carts.models import Cart, Product, User

from .conftest import TokenClient, add, cart_lines, error_codes


def new_guest() -> tuple[str, TokenClient]:
    response = APIClient().post("/guests")
    assert response.status_code == 201
    body = response.json()
    client = TokenClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    client.token = body["token"]
    return body["user_id"], client


def merge(client, user_id, **body):
    return client.post(f"/cart/{user_id}/merge", body, format="json")


def test_a_guest_is_a_user_with_an_owner_token(catalog):
    user_id, guest = new_guest()

    assert re.fullmatch(r"guest-[0-9a-f]{32}", user_id)
    user = User.objects.get(username=user_id)
    assert user.is_guest and not user.is_staff and not user.has_usable_password()
    assert add(guest, user_id, LOAFERS, 2).status_code == 201
    assert guest.get(f"/cart/{user_id}").json()["total_quantity"] == 2
    assert guest.get("/cart/alice").status_code == 403


@override_settings(CART_THROTTLE_RATES={"anon": None, "guest": "2/min"})
def test_creating_guests_is_throttled_per_client_address(db):
    statuses = [APIClient().post("/guests").status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert User.objects.filter(is_guest=True).count() == 2


def test_merge_at_login_sums_lines_and_retires_the_guest_token(alice):
    user_id, guest = new_guest()
    add(guest, user_id, LOAFERS, 2)
    add(guest, user_id, MUG, 1)
    add(alice, "alice", LOAFERS, 3)

    response = merge(alice, "alice", guest_token=guest.token)

    assert response.status_code == 200
    body = response.json()
    assert body["merged"] == [
        {"product_id": LOAFERS, "quantity": 2},
        {"product_id": MUG, "quantity": 1},
    ]
    assert (body["clamped"], body["dropped"], body["already_merged"]) == ([], [], False)
    assert body["cart"] == alice.get("/cart/alice").json()
    assert cart_lines("alice") == [(LOAFERS, 5), (MUG, 1)]
    assert cart_lines(user_id) == []
    assert guest.get(f"/cart/{user_id}").status_code == 401
    cart = Cart.objects.get(user__username=user_id)
    assert cart.merged_into.username == "alice" and cart.merged_at is not None


def test_merge_in_max_mode_keeps_the_larger_quantity(alice):
    user_id, guest = new_guest()
    add(guest, user_id, LOAFERS, 2)
    add(guest, user_id, MUG, 7)
    add(alice, "alice", LOAFERS, 5)
    add(alice, "alice", MUG, 3)

    response = merge(alice, "alice", guest_token=guest.token, mode="max")

    assert response.status_code == 200
    assert cart_lines("alice") == [(LOAFERS, 5), (MUG, 7)]


def test_merge_clamps_at_the_quantity_limit_and_drops_past_the_line_limit(
    alice, settings
):
    settings.CART_MAX_LINE_QUANTITY = 10
    user_id, guest = new_guest()
    add(guest, user_id, LOAFERS, 6)
    add(guest, user_id, MUG, 1)
    add(guest, user_id, SHAKERS, 4)
    add(alice, "alice", LOAFERS, 7)
    settings.CART_MAX_LINES = 2

    body = merge(alice, "alice", guest_token=guest.token).json()

    assert body["clamped"] == [{"product_id": LOAFERS, "requested": 13, "applied": 10}]
    assert body["dropped"] == [
        {"product_id": SHAKERS, "quantity": 4, "reason": "cart_line_limit_exceeded"}
    ]
    assert [line["product_id"] for line in body["merged"]] == [LOAFERS, MUG]
    assert cart_lines("alice") == [(LOAFERS, 10), (MUG, 1)]


def test_merge_drops_a_product_that_is_no_longer_sold(alice):
    user_id, guest = new_guest()
    add(guest, user_id, TANK, 1)
    Product.objects.filter(pk=TANK).update(active=False)

    body = merge(alice, "alice", guest_token=guest.token).json()

    assert body["dropped"] == [
        {"product_id": TANK, "quantity": 1, "reason": "product_not_found"}
    ]
    assert cart_lines("alice") == []


def test_repeating_a_merge_changes_nothing(alice):
    user_id, guest = new_guest()
    add(guest, user_id, LOAFERS, 2)
    merge(alice, "alice", guest_token=guest.token)

    again = merge(alice, "alice", guest_token=guest.token)

    assert again.status_code == 200
    assert again.json()["already_merged"] is True
    assert again.json()["merged"] == []
    assert cart_lines("alice") == [(LOAFERS, 2)]


def test_a_guest_merged_elsewhere_is_409(alice, staff, make_client):
    bob = make_client("bob")
    user_id, guest = new_guest()
    merge(alice, "alice", guest_token=guest.token)

    response = merge(bob, "bob", guest_token=guest.token)
    by_id = merge(staff, "bob", from_user_id=user_id)
    add_after = staff.post(f"/cart/{user_id}", {"product_id": MUG}, format="json")

    assert response.status_code == by_id.status_code == add_after.status_code == 409
    assert error_codes(response) == ["guest_already_merged"]
    assert error_codes(add_after) == ["guest_already_merged"]


def test_staff_merge_by_user_id_creates_an_unknown_target(staff):
    user_id, guest = new_guest()
    add(guest, user_id, LOAFERS, 1)

    response = merge(staff, "customer-42", from_user_id=user_id)

    assert response.status_code == 200
    assert cart_lines("customer-42") == [(LOAFERS, 1)]


def test_only_staff_may_merge_by_user_id(alice):
    user_id, _ = new_guest()

    response = merge(alice, "alice", from_user_id=user_id)

    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [{}, {"guest_token": "t", "from_user_id": "g"}, {"guest_token": "t", "mode": "x"}],
)
def test_a_merge_needs_exactly_one_source_and_a_known_mode(staff, body):
    response = merge(staff, "alice", **body)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"


def test_the_source_must_be_a_guest(alice, staff, make_client):
    bob = make_client("bob")

    by_token = merge(alice, "alice", guest_token=bob.token)
    by_unknown_token = merge(alice, "alice", guest_token="0" * 40)
    by_id = merge(staff, "alice", from_user_id="bob")

    assert by_token.status_code == by_unknown_token.status_code == 404
    assert by_id.status_code == 404
    assert error_codes(by_token) == ["guest_not_found"]


def test_a_cart_cannot_be_merged_into_itself(catalog):
    user_id, guest = new_guest()

    response = merge(guest, user_id, guest_token=guest.token)

    assert response.status_code == 400
    assert error_codes(response) == ["merge_into_itself"]
