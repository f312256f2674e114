"""ETags, If-None-Match and If-Match (API.md v2, "Versions and conditional
requests"), through HTTP on real PostgreSQL."""

import pytest
from django.test import override_settings

from carts.models import Cart, Product

from .conftest import cart_lines, concurrently, error_codes, token_client
from .test_guests_and_merge import add, new_guest

pytestmark = pytest.mark.django_db(transaction=True)

LOAFERS, MUG, SHAKERS = "L9ECAV7KIM", "6E92ZMYYFZ", "LS4PSXUNUM"


def etag(client, user_id: str = "alice") -> str:
    response = client.get(f"/cart/{user_id}")
    assert response.status_code == 200
    return response["ETag"]


def version(username: str) -> int:
    return Cart.objects.get(user__username=username).version


@pytest.fixture
def cart(alice):
    """alice's cart with two lines."""
    add(alice, "alice", LOAFERS, 2)
    add(alice, "alice", MUG, 1)
    return alice


# Every successful write under /cart/<user_id>: (method, path, body).
WRITES = {
    "add": ("post", "/cart/alice", {"product_id": SHAKERS, "quantity": 1}),
    "add to a line": ("post", "/cart/alice", {"product_id": LOAFERS}),
    "set": ("put", f"/cart/alice/items/{LOAFERS}", {"quantity": 5}),
    "set a new line": ("put", f"/cart/alice/items/{SHAKERS}", {"quantity": 5}),
    "set to 0": ("put", f"/cart/alice/items/{MUG}", {"quantity": 0}),
    "set an absent line to 0": ("put", f"/cart/alice/items/{SHAKERS}", {"quantity": 0}),
    "remove": ("delete", f"/cart/alice/items/{MUG}", None),
    "clear": ("delete", "/cart/alice", None),
}


@pytest.mark.parametrize("write", WRITES)
def test_a_write_answers_the_etag_that_a_following_get_returns(cart, write):
    method, path, body = WRITES[write]
    before = etag(cart)

    response = getattr(cart, method)(path, body, format="json")

    assert response.status_code in (200, 201, 204)
    assert response["ETag"] == etag(cart)
    changes = write != "set an absent line to 0"
    assert (response["ETag"] != before) is changes


def test_clearing_an_empty_cart_answers_the_current_etag(alice):
    before = etag(alice)

    response = alice.delete("/cart/alice")

    assert response.status_code == 204
    assert response["ETag"] == before == etag(alice)


def test_a_merge_answers_the_new_etag(cart):
    guest_id, guest = new_guest()
    add(guest, guest_id, SHAKERS, 1)
    before = etag(cart)

    response = cart.post(
        "/cart/alice/merge", {"guest_token": guest.token}, format="json"
    )

    assert response.status_code == 200
    assert response["ETag"] == etag(cart) != before
    assert cart.get("/cart/alice").json() == response.json()["cart"]


def test_get_with_a_matching_if_none_match_is_304_without_a_body(cart):
    current = etag(cart)

    for header in [current, f'"0-0000000000000000", {current}', f"W/{current}", "*"]:
        response = cart.get("/cart/alice", HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, header
        assert response.content == b""
        assert response["ETag"] == current


def test_get_with_a_stale_if_none_match_answers_the_cart(cart):
    stale = etag(cart)
    add(cart, "alice", SHAKERS, 1)

    response = cart.get("/cart/alice", HTTP_IF_NONE_MATCH=stale)

    assert response.status_code == 200
    assert len(response.json()["items"]) == 3
    assert response["ETag"] == etag(cart) != stale


def test_an_unknown_ids_empty_cart_has_an_etag_and_a_304(staff):
    response = staff.get("/cart/nobody-yet")
    assert response.status_code == 200

    again = staff.get("/cart/nobody-yet", HTTP_IF_NONE_MATCH=response["ETag"])

    assert again.status_code == 304


def test_carts_of_two_users_at_one_version_have_different_etags(make_client, catalog):
    clients = {name: make_client(name) for name in ("alice", "bob")}
    for name, client in clients.items():
        add(client, name, LOAFERS, 1)
    assert version("alice") == version("bob") == 1

    alice_etag, bob_etag = (etag(client, name) for name, client in clients.items())

    assert alice_etag != bob_etag
    assert "alice" not in alice_etag
    # bob's ETag names no version of alice's cart.
    response = clients["alice"].get("/cart/alice", HTTP_IF_NONE_MATCH=bob_etag)
    assert response.status_code == 200


def test_a_price_edit_in_the_admin_changes_the_etag_of_carts_holding_it(
    cart, make_client, admin_client
):
    bob = make_client("bob")
    add(bob, "bob", SHAKERS, 1)  # a cart without loafers
    alice_before, bob_before = etag(cart), etag(bob, "bob")

    response = admin_client.post(
        f"/admin/carts/product/{LOAFERS}/change/",
        {"id": LOAFERS, "name": "Loafers", "price": "79.99", "active": "on"},
    )

    assert response.status_code == 302, response.content
    answer = cart.get("/cart/alice", HTTP_IF_NONE_MATCH=alice_before)
    assert answer.status_code == 200
    assert answer.json()["items"][0]["unit_price"] == "79.99"
    assert etag(bob, "bob") == bob_before


def test_any_change_of_a_products_name_price_or_state_bumps_its_carts(cart):
    before = version("alice")

    Product.objects.filter(pk=LOAFERS).update(name="Loafers II")
    Product.objects.filter(pk=MUG).update(active=False)
    loafers = Product.objects.get(pk=LOAFERS)
    loafers.price = "1.00"
    loafers.save()
    loafers.save()  # unchanged: no bump
    Product.objects.filter(pk=SHAKERS).update(price="2.00")  # in no cart

    assert version("alice") == before + 3


# Every write under /cart/<user_id> sent with a stale If-Match.
STALE_WRITES = {
    **{name: WRITES[name] for name in ("add", "set", "set to 0", "remove", "clear")},
    "merge": ("post", "/cart/alice/merge", None),  # body: a guest's token
}


def stale_write(write: str) -> tuple:
    """(method, path, body) of a write; a merge's body names a new guest."""
    method, path, body = STALE_WRITES[write]
    if write == "merge":
        guest_id, guest = new_guest()
        add(guest, guest_id, SHAKERS, 1)
        body = {"guest_token": guest.token}
    return method, path, body


@pytest.mark.parametrize("write", STALE_WRITES)
def test_a_write_with_a_stale_if_match_is_412_and_changes_nothing(cart, write):
    method, path, body = stale_write(write)
    stale = etag(cart)
    add(cart, "alice", LOAFERS, 1)
    lines, current = cart_lines("alice"), etag(cart)

    response = getattr(cart, method)(path, body, format="json", HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert error_codes(response) == ["precondition_failed"]
    assert response["ETag"] == current
    assert cart_lines("alice") == lines and etag(cart) == current


@pytest.mark.parametrize("write", STALE_WRITES)
def test_a_write_with_the_current_if_match_runs(cart, write):
    method, path, body = stale_write(write)

    response = getattr(cart, method)(
        path, body, format="json", HTTP_IF_MATCH=f'"1-0000000000000000", {etag(cart)}'
    )

    assert response.status_code in (200, 201, 204)
    assert response["ETag"] == etag(cart)


def test_checkout_does_not_wipe_a_line_added_meanwhile(cart, staff):
    checkout_etag = etag(cart)
    add(staff, "alice", SHAKERS, 1)  # another client, between GET and DELETE

    response = cart.delete("/cart/alice", HTTP_IF_MATCH=checkout_etag)

    assert response.status_code == 412
    assert (SHAKERS, 1) in cart_lines("alice")
    assert cart.delete("/cart/alice", HTTP_IF_MATCH=response["ETag"]).status_code == 204
    assert cart_lines("alice") == []


def test_if_match_star_matches_any_cart(cart, staff):
    assert cart.delete("/cart/alice", HTTP_IF_MATCH="*").status_code == 204
    response = staff.post(
        "/cart/new-shopper", {"product_id": LOAFERS}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 201


def test_if_match_on_a_cart_not_created_yet_holds_until_its_first_change(staff):
    empty = etag(staff, "new-shopper")

    first = staff.post(
        "/cart/new-shopper", {"product_id": LOAFERS}, format="json", HTTP_IF_MATCH=empty
    )
    second = staff.post(
        "/cart/new-shopper", {"product_id": MUG}, format="json", HTTP_IF_MATCH=empty
    )

    assert first.status_code == 201
    assert second.status_code == 412 and second["ETag"] == first["ETag"]
    assert cart_lines("new-shopper") == [(LOAFERS, 1)]


@pytest.mark.parametrize(
    "header",
    ['W/"{version}-{tag}"', "garbage", '"99999999999999999999999-0000000000000000"'],
)
def test_if_match_compares_strongly_and_ignores_what_it_cannot_read(cart, header):
    version_part, tag = etag(cart).strip('"').split("-")
    header = header.format(version=version_part, tag=tag)

    response = cart.delete("/cart/alice", HTTP_IF_MATCH=header)

    assert response.status_code == 412
    assert len(cart_lines("alice")) == 2


def test_concurrent_writes_with_one_if_match_apply_exactly_one(cart):
    current = etag(cart)

    responses = concurrently(
        20,
        lambda: token_client(cart).post(
            "/cart/alice",
            {"product_id": LOAFERS, "quantity": 1},
            format="json",
            HTTP_IF_MATCH=current,
        ),
    )

    assert sorted(r.status_code for r in responses) == [200] + [412] * 19
    assert (LOAFERS, 3) in cart_lines("alice")


@override_settings(CART_CURRENCY="EUR")
def test_the_currency_is_part_of_the_etag(cart):
    eur = etag(cart)
    with override_settings(CART_CURRENCY="USD"):
        assert etag(cart) != eur
