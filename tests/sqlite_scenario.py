"""Run by tests/test_sqlite.py in a subprocess whose DATABASE_URL is SQLite."""

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402

from carts import merge, owners, selectors, services  # noqa: E402
from carts.domain.cart import Cart  # noqa: E402
from carts.domain.errors import (  # noqa: E402
    CartLineLimitExceeded,
    PreconditionFailed,
    ProductNotFound,
    QuantityLimitExceeded,
)
from carts.domain.rules import MergeMode  # noqa: E402
from carts.models import Product, User  # noqa: E402
from carts.owners import NewOwner  # noqa: E402


def expect(error, call):
    try:
        call()
    except error:
        return
    raise AssertionError(f"expected {error.__name__}")


def main():
    call_command("migrate", verbosity=0)
    call_command("loaddata", "catalog", verbosity=0)
    User.objects.create(username="alice")

    def add(**fields):
        return services.cart_item_add(new_owner=None, **fields)

    def put(**fields):
        return services.cart_item_set(new_owner=None, **fields)

    write = add(username="alice", product_id="L9ECAV7KIM", quantity=8)
    assert write.created and write.line.quantity == 8, write
    assert str(write.line.unit_price) == "89.99" and write.version == 1, write
    write = add(username="alice", product_id="L9ECAV7KIM", quantity=8)
    assert not write.created and write.line.quantity == 16, write
    assert str(write.line.line_total) == "1439.84" and write.version == 2, write
    write = put(username="alice", product_id="LS4PSXUNUM", quantity=3)
    assert write.created and str(write.line.line_total) == "55.47", write
    write = put(username="alice", product_id="LS4PSXUNUM", quantity=5)
    assert not write.created and write.line.quantity == 5, write

    expect(
        QuantityLimitExceeded,
        lambda: add(username="alice", product_id="L9ECAV7KIM", quantity=985),
    )
    expect(
        ProductNotFound, lambda: add(username="alice", product_id="NOPE", quantity=1)
    )
    with override_settings(CART_MAX_LINES=2):
        expect(
            CartLineLimitExceeded,
            lambda: add(username="alice", product_id="6E92ZMYYFZ", quantity=1),
        )

    cart = selectors.cart_get(username="alice")
    assert [(line.product_id, line.quantity) for line in cart.items] == [
        ("L9ECAV7KIM", 16),
        ("LS4PSXUNUM", 5),
    ]
    assert str(cart.subtotal) == "1532.29", cart.subtotal
    assert cart.version == 4, cart.version
    assert services.cart_item_remove(username="alice", product_id="LS4PSXUNUM") == 5
    # If-Match: a stale version changes nothing, the current one writes.
    expect(
        PreconditionFailed,
        lambda: services.cart_clear(username="alice", user_known=True, if_match={4}),
    )
    assert len(selectors.cart_get(username="alice").items) == 1
    assert services.cart_clear(username="alice", user_known=True, if_match={5}) == 6
    assert selectors.cart_get(username="alice") == Cart("alice", [], version=6)
    # A product's new price is a new version of the carts holding it (trigger).
    add(username="alice", product_id="L9ECAV7KIM", quantity=1)
    Product.objects.filter(pk="L9ECAV7KIM").update(price="1.00")
    assert selectors.cart_version(username="alice") == 8

    # A staff write creates an unknown shopper; a guest merges into it.
    services.cart_item_add(
        username="bob", product_id="OLJCESPC7Z", quantity=2, new_owner=NewOwner.SHOPPER
    )
    guest, _ = owners.guest_create()
    services.cart_item_add(
        username=guest, product_id="OLJCESPC7Z", quantity=3, new_owner=None
    )
    result = merge.cart_merge(
        guest=merge.guest_by_id(guest),
        username="bob",
        mode=MergeMode.SUM,
        new_owner=None,
    )
    assert result.plan.merged == [{"product_id": "OLJCESPC7Z", "quantity": 3}], result
    bob = selectors.cart_get(username="bob")
    assert [(line.product_id, line.quantity) for line in bob.items] == [
        ("OLJCESPC7Z", 5)
    ], bob
    print("sqlite scenario ok")


if __name__ == "__main__":
    main()
