"""The admin's view of checkout-ready carts (API.md v3): each cart's state, a
line's price as added and its warning, edits of a held cart refused, and the
action that releases a hold."""

from decimal import Decimal

from carts.cart.checkout import checkout_hold
from carts.models import Cart, CartItem, Checkout, Product

from .conftest import add, cart_lines, error_codes
from .test_admin import page_text, user_change_data

LOAFERS, MUG = "L9ECAV7KIM", "6E92ZMYYFZ"


def states(admin_client) -> dict[str, str]:
    response = admin_client.get("/admin/carts/cart/")
    admin = response.context["cl"].model_admin
    return {
        cart.user.username: admin.state(cart)
        for cart in response.context["cl"].result_list
    }


def test_the_carts_list_shows_active_held_and_merged_carts(
    admin_client, make_client, catalog
):
    for username in ("active", "held", "merged"):
        add(make_client(username), username, LOAFERS)
    cart = checkout_hold(user_id="held")
    Cart.objects.filter(user__username="merged").update(
        merged_into=Cart.objects.get(user__username="active").user,
        merged_at=cart.hold.expires_at,
    )

    shown = states(admin_client)

    assert shown["active"] == "active"
    assert shown["merged"] == "merged guest"
    assert shown["held"].startswith("held until ")


def test_a_line_shows_its_price_as_added_and_its_warning(admin_client, alice, catalog):
    add(alice, "alice", LOAFERS)
    product = Product.objects.get(pk=LOAFERS)
    product.price = Decimal("99.50")
    product.save()

    page = page_text(admin_client.get(f"/admin/carts/user/{alice.user.pk}/change/"))

    assert "price changed from 89.99 to 99.50" in page


def test_an_edit_of_a_held_cart_is_refused_with_a_message(admin_client, alice):
    """The inline's formset refuses it; the single line's page, its form."""
    add(alice, "alice", LOAFERS, 2)
    line = CartItem.objects.get()
    checkout_hold(user_id="alice")

    response = admin_client.post(
        f"/admin/carts/user/{alice.user.pk}/change/",
        user_change_data(alice.user, {line.pk: 7}),
        follow=True,
    )

    assert response.status_code == 200  # the form again, with the error
    assert "The cart of &#x27;alice&#x27; is held for checkout" in response.text
    assert cart_lines("alice") == [(LOAFERS, 2)]


def test_the_release_action_frees_a_held_cart(admin_client, alice):
    add(alice, "alice", LOAFERS)
    checkout_hold(user_id="alice")
    refused = alice.post("/cart/alice", {"product_id": MUG}, format="json")

    response = admin_client.post(
        "/admin/carts/cart/",
        {
            "action": "release_holds",
            "_selected_action": [alice.user.pk],
        },
        follow=True,
    )

    assert error_codes(refused) == ["cart_in_checkout"]
    assert "Released 1 checkout hold(s)." in response.text
    assert Checkout.objects.get().state == "cancelled"
    add(alice, "alice", MUG)
    assert alice.get("/cart/alice").json()["checkout"] is None


def test_a_delete_of_a_held_cart_line_is_refused_with_a_message(admin_client, alice):
    add(alice, "alice", LOAFERS)
    line = CartItem.objects.get()
    checkout_hold(user_id="alice")

    response = admin_client.post(
        f"/admin/carts/cartitem/{line.pk}/delete/", {"post": "yes"}, follow=True
    )

    assert "Not saved: The cart of &#x27;alice&#x27; is held" in response.text
    assert cart_lines("alice") == [(LOAFERS, 1)]
