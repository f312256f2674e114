"""Carts for any id (API.md v2): staff writes create the shopper, reads and
deletes create nothing; CART_AUTO_CREATE_USERS=0 restores v1; seed clients'
query parameters; every change bumps the cart's version."""

import pytest
from django.test import override_settings

from carts.demo import LOAFERS, MUG
from carts.models import Cart, User

from .conftest import add, cart_lines, error_codes


def version(username: str) -> int:
    return Cart.objects.get(user__username=username).version


def test_staff_add_to_an_unknown_id_creates_the_shopper_and_its_cart(staff):
    response = staff.post("/cart/newuser123", {"product_id": LOAFERS}, format="json")

    assert response.status_code == 201
    assert staff.get("/cart/newuser123").json()["items"][0]["product_id"] == LOAFERS
    shopper = User.objects.get(username="newuser123")
    assert not shopper.is_staff and not shopper.is_guest
    assert not shopper.has_usable_password()
    assert version("newuser123") == 1  # created at 0, the add made it 1
    # Each created shopper's unusable password is its own (a random suffix).
    staff.post("/cart/newuser456", {"product_id": LOAFERS}, format="json")
    other = User.objects.get(username="newuser456")
    assert not other.has_usable_password() and other.password != shopper.password


def test_staff_set_on_an_unknown_id_creates_the_cart(staff):
    response = staff.put(f"/cart/u7/items/{LOAFERS}", {"quantity": 3}, format="json")

    assert response.status_code == 201
    assert cart_lines("u7") == [(LOAFERS, 3)]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("get", "/cart/ghost", None, 200),
        ("delete", "/cart/ghost", None, 204),
        ("delete", f"/cart/ghost/items/{LOAFERS}", None, 404),
        ("put", f"/cart/ghost/items/{LOAFERS}", {"quantity": 0}, 204),
    ],
)
def test_reads_and_deletes_of_an_unknown_id_answer_as_for_an_empty_cart(
    staff, method, path, body, expected
):
    response = getattr(staff, method)(path, body, format="json")

    assert response.status_code == expected
    if method == "get":
        assert response.json() == {
            "user_id": "ghost",
            "items": [],
            "total_quantity": 0,
            "subtotal": "0.00",
            "currency": "USD",
            "warnings": [],
            "checkout": None,
        }
    if expected == 404:
        assert error_codes(response) == ["line_not_found"]
    assert not User.objects.filter(username="ghost").exists()


def test_a_refused_write_to_an_unknown_id_creates_nothing(staff):
    response = staff.post("/cart/newbie", {"product_id": "NOPE"}, format="json")

    assert response.status_code == 404
    assert error_codes(response) == ["product_not_found"]
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize("user_id", ["has space", "x" * 151, "semi;colon", "ünï…"])
def test_an_id_that_cannot_be_a_username_is_400_on_a_write(staff, user_id):
    response = staff.post(f"/cart/{user_id}", {"product_id": LOAFERS}, format="json")

    assert response.status_code == 400
    assert error_codes(response) == ["invalid_user_id"]
    assert staff.get(f"/cart/{user_id}").status_code == 200
    assert not User.objects.filter(username=user_id).exists()


def test_a_new_id_that_nfkc_normalisation_changes_is_400_beside_its_normal_form(staff):
    add(staff, "ff", LOAFERS)

    # "%EF%AC%80" is U+FB00, the "ff" ligature, which NFKC turns into "ff".
    response = staff.post("/cart/%EF%AC%80", {"product_id": LOAFERS}, format="json")

    assert response.status_code == 400
    assert error_codes(response) == ["invalid_user_id"]
    assert list(
        User.objects.filter(username__in=["ff", "\ufb00"]).values_list(
            "username", flat=True
        )
    ) == ["ff"]
    assert cart_lines("ff") == [(LOAFERS, 1)]


def test_owners_still_cannot_touch_other_carts(alice, staff):
    staff.post("/cart/bob", {"product_id": LOAFERS}, format="json")

    assert alice.get("/cart/bob").status_code == 403
    assert alice.post("/cart/carol", {"product_id": LOAFERS}).status_code == 403
    assert not User.objects.filter(username="carol").exists()


@override_settings(CART_AUTO_CREATE_USERS=False)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/cart/nobody", {"product_id": LOAFERS}),
        ("get", "/cart/nobody", None),
        ("delete", "/cart/nobody", None),
        ("put", f"/cart/nobody/items/{LOAFERS}", {"quantity": 1}),
        ("put", f"/cart/nobody/items/{LOAFERS}", {"quantity": 0}),
        ("delete", f"/cart/nobody/items/{LOAFERS}", None),
    ],
)
def test_without_auto_creation_unknown_users_are_404_as_in_v1(
    staff, method, path, body
):
    response = getattr(staff, method)(path, body, format="json")

    assert response.status_code == 404
    assert error_codes(response) == ["user_not_found"]
    assert not User.objects.filter(username="nobody").exists()


def test_seed_clients_add_with_query_parameters_and_no_body(staff):
    response = staff.post(f"/cart/u1?product_id={LOAFERS}&quantity=8")
    again = staff.post(f"/cart/u1?product_id={LOAFERS}")

    assert (response.status_code, again.status_code) == (201, 200)
    assert cart_lines("u1") == [(LOAFERS, 9)]


@pytest.mark.parametrize(
    ("query", "attr", "code"),
    [
        ("quantity=1.5", "quantity", "invalid"),
        ("quantity=true", "quantity", "invalid"),
        ("quantity=0", "quantity", "min_value"),
        ("colour=red", "colour", "unknown_field"),
    ],
)
def test_seed_query_parameters_are_validated_like_the_body(staff, query, attr, code):
    response = staff.post(f"/cart/u1?product_id={LOAFERS}&{query}")

    assert response.status_code == 400
    assert {(e["attr"], e["code"]) for e in response.json()["errors"]} == {(attr, code)}


def test_a_body_and_query_parameters_at_once_are_400(staff):
    response = staff.post(
        f"/cart/u1?product_id={LOAFERS}", {"product_id": MUG}, format="json"
    )

    assert response.status_code == 400
    assert error_codes(response) == ["body_and_query"]
    assert not User.objects.filter(username="u1").exists()


def test_every_change_bumps_the_version_and_nothing_else_does(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")
    versions = [version("alice")]
    for method, path, body in [
        ("post", "/cart/alice", {"product_id": LOAFERS}),
        ("put", f"/cart/alice/items/{MUG}", {"quantity": 2}),
        ("delete", f"/cart/alice/items/{MUG}", None),
        ("delete", "/cart/alice", None),
    ]:
        assert getattr(alice, method)(path, body, format="json").status_code < 300
        versions.append(version("alice"))
    # Refused or empty-handed writes and reads change nothing.
    alice.post("/cart/alice", {"product_id": "NOPE"}, format="json")
    alice.delete("/cart/alice")
    alice.delete(f"/cart/alice/items/{MUG}")
    alice.get("/cart/alice")

    assert versions == [1, 2, 3, 4, 5]
    assert version("alice") == 5
