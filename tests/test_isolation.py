"""No request reaches another user's cart, whatever the spelling of the path."""

import pytest
from rest_framework.test import APIClient

from carts.demo import LOAFERS

from .conftest import cart_lines, error_codes

# Each spelling and what it is: someone else's cart (403) or no route (404).
ALICE_PATHS = [
    ("/cart/alice/", 403),
    ("/cart/%61lice", 403),
    ("/cart/%61%6C%69%63%65/", 403),
    ("/cart/ALICE", 403),
    ("/cart/Alice", 403),
    ("/cart/alice%20", 403),
    ("/cart/mallory/../alice", 404),
    ("/cart/mallory%2F..%2Falice", 404),
]


@pytest.fixture
def alices_cart(alice):
    alice.post("/cart/alice", {"product_id": LOAFERS, "quantity": 3}, format="json")
    return alice


@pytest.mark.parametrize(("path", "status"), ALICE_PATHS)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_path_variants_never_reach_another_users_cart(
    alices_cart, make_client, path, status, method
):
    mallory = make_client("mallory")

    response = getattr(mallory, method)(path, {"product_id": LOAFERS}, format="json")

    assert response.status_code == status
    assert "L9ECAV7KIM" not in response.content.decode()
    assert cart_lines("alice") == [(LOAFERS, 3)]


ALICE_ITEM_PATHS = [
    f"/cart/alice/items/{LOAFERS}/",
    f"/cart/%61lice/items/{LOAFERS}",
    f"/cart/ALICE/items/{LOAFERS}",
    "/cart/alice/items/%4C9ECAV7KIM",
]


@pytest.mark.parametrize("path", ALICE_ITEM_PATHS)
@pytest.mark.parametrize("method", ["put", "delete"])
def test_item_path_variants_never_reach_another_users_cart(
    alices_cart, make_client, path, method
):
    mallory = make_client("mallory")

    response = getattr(mallory, method)(path, {"quantity": 1}, format="json")

    assert response.status_code == 403
    assert cart_lines("alice") == [(LOAFERS, 3)]


def test_an_encoded_path_is_the_same_cart_for_its_owner(alices_cart):
    response = alices_cart.get("/cart/%61lice/")

    assert response.status_code == 200
    assert response.json()["items"][0]["quantity"] == 3


def test_a_case_variant_username_is_another_account(alices_cart, make_client):
    other_alice = make_client("Alice")

    own = other_alice.get("/cart/Alice")
    theirs = other_alice.get("/cart/alice")

    assert own.status_code == 200
    assert own.json()["items"] == []
    assert theirs.status_code == 403
    assert error_codes(theirs) == ["permission_denied"]


CART_LINES_PAGE = "/admin/carts/cartitem/"


def test_the_admin_sends_a_shopper_with_a_session_to_its_login(alices_cart):
    client = APIClient()
    client.force_login(alices_cart.user)

    for path in ["/admin/", CART_LINES_PAGE, "/admin/carts/user/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path


def test_the_admin_login_refuses_a_shopper(alices_cart):
    alices_cart.user.set_password("shopper-pass-1")
    alices_cart.user.save()
    client = APIClient()

    client.post("/admin/login/", {"username": "alice", "password": "shopper-pass-1"})

    assert client.get(CART_LINES_PAGE).status_code == 302


def test_the_admin_ignores_api_tokens(alices_cart, staff):
    response = staff.get(CART_LINES_PAGE)

    assert response.status_code == 302
    assert LOAFERS not in response.content.decode()


def test_the_admin_shows_no_cart_to_staff_without_permissions(alices_cart, staff):
    client = APIClient()
    # An API front end: is_staff and carts.manage_any_cart, no admin view
    # permission.
    client.force_login(staff.user)

    response = client.get(CART_LINES_PAGE)

    assert response.status_code == 403
    assert LOAFERS not in response.content.decode()
