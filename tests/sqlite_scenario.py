"""Run by tests/test_sqlite.py in a subprocess whose DATABASE_URL is SQLite."""

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from carts.cart import items, merge, owners, reads  # noqa: E402
from carts.cart.owners import NewOwner  # noqa: E402
from carts.domain.cart import CartContents  # noqa: E402
from carts.domain.errors import (  # noqa: E402
    ItemLimitExceeded,
    PreconditionFailed,
    ProductNotFound,
    QuantityLimitExceeded,
)
from carts.domain.rules import MergeMode  # noqa: E402
from carts.models import Cart, CartEvent, Product, User  # noqa: E402
from tests.admin_pages import all_in_cents, subtotals_shown  # noqa: E402


def expect(error, call):
    try:
        call()
    except error:
        return
    raise AssertionError(f"expected {error.__name__}")


def shown(user_id: str, version: int) -> int:
    """The version an ETag names: the cart's generation with its counter."""
    return (Cart.objects.get(user__username=user_id).generation << 32) + version


def main():
    call_command("migrate", verbosity=0)
    call_command("loaddata", "catalog", verbosity=0)
    User.objects.create(username="alice")

    def add(**fields):
        return items.cart_item_add(new_owner=None, **fields)

    def put(**fields):
        return items.cart_item_set(new_owner=None, **fields)

    write = add(user_id="alice", product_id="L9ECAV7KIM", quantity=8)
    assert write.created and write.item.quantity == 8, write
    assert str(write.item.unit_price) == "89.99" and write.version == shown(
        "alice", 1
    ), write
    write = add(user_id="alice", product_id="L9ECAV7KIM", quantity=8)
    assert not write.created and write.item.quantity == 16, write
    assert str(write.item.line_total) == "1439.84" and write.version == shown(
        "alice", 2
    ), write
    write = put(user_id="alice", product_id="LS4PSXUNUM", quantity=3)
    assert write.created and str(write.item.line_total) == "55.47", write
    write = put(user_id="alice", product_id="LS4PSXUNUM", quantity=5)
    assert not write.created and write.item.quantity == 5, write

    expect(
        QuantityLimitExceeded,
        lambda: add(user_id="alice", product_id="L9ECAV7KIM", quantity=985),
    )
    expect(ProductNotFound, lambda: add(user_id="alice", product_id="NOPE", quantity=1))
    with override_settings(CART_MAX_LINES=2):
        expect(
            ItemLimitExceeded,
            lambda: add(user_id="alice", product_id="6E92ZMYYFZ", quantity=1),
        )

    cart = reads.cart_get(user_id="alice")
    assert [(line.product_id, line.quantity) for line in cart.items] == [
        ("L9ECAV7KIM", 16),
        ("LS4PSXUNUM", 5),
    ]
    assert str(cart.subtotal) == "1532.29", cart.subtotal
    assert cart.version == shown("alice", 4), cart.version
    assert items.cart_item_remove(user_id="alice", product_id="LS4PSXUNUM") == shown(
        "alice", 5
    )
    # If-Match: a stale version changes nothing, the current one writes.
    expect(
        PreconditionFailed,
        lambda: items.cart_clear(
            user_id="alice", user_known=True, if_match={shown("alice", 4)}
        ),
    )
    assert len(reads.cart_get(user_id="alice").items) == 1
    assert items.cart_clear(
        user_id="alice", user_known=True, if_match={shown("alice", 5)}
    ) == shown("alice", 6)
    assert reads.cart_get(user_id="alice") == CartContents(
        "alice", [], version=shown("alice", 6)
    )
    # A product's new price is a new version of the carts holding it (trigger).
    add(user_id="alice", product_id="L9ECAV7KIM", quantity=1)
    Product.objects.filter(pk="L9ECAV7KIM").update(price="1.00")
    assert reads.cart_version(user_id="alice") == shown("alice", 8)

    # A staff write creates an unknown shopper; a guest merges into it.
    items.cart_item_add(
        user_id="bob", product_id="OLJCESPC7Z", quantity=2, new_owner=NewOwner.SHOPPER
    )
    guest, _ = owners.guest_create()
    items.cart_item_add(
        user_id=guest, product_id="OLJCESPC7Z", quantity=3, new_owner=None
    )
    result = merge.cart_merge(
        guest=merge.guest_by_id(guest),
        user_id="bob",
        mode=MergeMode.SUM,
        new_owner=None,
    )
    assert result.plan.merged == [{"product_id": "OLJCESPC7Z", "quantity": 3}], result
    bob = reads.cart_get(user_id="bob")
    assert [(line.product_id, line.quantity) for line in bob.items] == [
        ("OLJCESPC7Z", 5)
    ], bob
    admin_pages_show_two_place_money(bob_pk=User.objects.get(username="bob").pk)

    # Expiry deletes the merged guest, its deletion recorded with the version
    # a bump would have given.
    guest_version = shown(guest, Cart.objects.get(user__username=guest).version)
    with override_settings(CART_MERGED_GUEST_TTL=0):
        call_command("purge_carts", verbosity=0)
    assert not User.objects.filter(username=guest).exists()
    expired = CartEvent.objects.filter(username=guest, type="cart.expired")
    assert list(expired.values_list("cart_version", "data")) == [
        (guest_version + 1, {"deleted": True})
    ], list(expired.values_list("cart_version", "data"))
    print("sqlite scenario ok")


def admin_pages_show_two_place_money(*, bob_pk: int) -> None:
    """SQLite hands the subtotals' SUM back as a float: the admin shows cents."""
    items.cart_item_add(
        user_id="bob", product_id="LS4PSXUNUM", quantity=3, new_owner=None
    )
    operator = Client(HTTP_HOST="localhost")
    operator.force_login(User.objects.create_superuser("operator"))
    for path in [
        "/admin/carts/user/",
        "/admin/carts/cart/",
        f"/admin/carts/user/{bob_pk}/change/",
    ]:
        response = operator.get(path, secure=True)
        assert response.status_code == 200, (path, response.status_code)
        subtotals = subtotals_shown(response.content.decode())
        # bob: 5 x 19.99 + 3 x 18.49
        assert "155.42" in subtotals and all_in_cents(subtotals), (path, subtotals)


if __name__ == "__main__":
    main()
