"""The admin's view of v2 carts: guests, merges, the carts list, versions."""

from datetime import timedelta

from django.utils import timezone

from carts.admin import CartAdmin
from carts.cart.owners import NewOwner, owner_cart_ensure
from carts.models import Cart, CartItem, User

from .test_admin import queries_for, user_change_data


def cart_owner(username: str, *, guest=False, quantity=1, age_days=0) -> User:
    kind = NewOwner.GUEST if guest else NewOwner.SHOPPER
    user = User.objects.get(pk=owner_cart_ensure(user_id=username, new_owner=kind))
    CartItem.objects.create(user=user, product_id="L9ECAV7KIM", quantity=quantity)
    Cart.objects.filter(user=user).update(
        updated_at=timezone.now() - timedelta(days=age_days)
    )
    return user


def test_guests_are_marked_and_filterable(admin_client, catalog):
    cart_owner("guest-1", guest=True)
    cart_owner("shopper-1")

    guests = admin_client.get("/admin/carts/user/", {"is_guest__exact": "1"})
    shoppers = admin_client.get("/admin/carts/user/", {"is_guest__exact": "0"})

    assert [u.username for u in guests.context["cl"].result_list] == ["guest-1"]
    assert "guest-1" not in {u.username for u in shoppers.context["cl"].result_list}


def test_merged_guests_show_their_target(admin_client, catalog):
    guest = cart_owner("guest-2", guest=True)
    target = cart_owner("shopper-2")
    Cart.objects.filter(user=guest).update(merged_into=target, merged_at=timezone.now())

    merged = admin_client.get("/admin/carts/user/", {"merged": "yes"})
    page = admin_client.get(f"/admin/carts/user/{guest.pk}/change/")

    rows = merged.context["cl"].result_list
    assert [(u.username, u.merged_into_username) for u in rows] == [
        ("guest-2", "shopper-2")
    ]
    assert "shopper-2" in page.text


def test_the_carts_list_shows_figures_sorted_by_last_change(
    admin_client,
    catalog,
):
    cart_owner("old", quantity=2, age_days=5)
    cart_owner("new", quantity=3, age_days=0)
    cart_owner("guest-3", guest=True, quantity=1, age_days=2)

    count, response = queries_for(admin_client, "/admin/carts/cart/")
    oldest_first = admin_client.get(
        "/admin/carts/cart/",
        # The action's checkbox column comes first.
        {"o": str(CartAdmin.list_display.index("updated_at") + 1)},
    )

    rows = response.context["cl"].result_list
    assert [(c.user.username, c.cart_total_quantity) for c in rows] == [
        ("new", 3),
        ("guest-3", 1),
        ("old", 2),
    ]
    assert [c.user.username for c in oldest_first.context["cl"].result_list] == [
        "old",
        "guest-3",
        "new",
    ]
    assert str(rows[0].cart_subtotal_amount) == "269.97"
    assert count <= 5


def test_admin_edits_of_lines_bump_the_cart_version(admin_client, catalog):
    user = cart_owner("edited")
    line = CartItem.objects.get(user=user)
    before = Cart.objects.get(user=user).version

    admin_client.post(
        f"/admin/carts/user/{user.pk}/change/", user_change_data(user, {line.pk: 7})
    )
    admin_client.post(f"/admin/carts/cartitem/{line.pk}/delete/", {"post": "yes"})

    assert Cart.objects.get(user=user).version == before + 2
    assert not CartItem.objects.filter(user=user).exists()
