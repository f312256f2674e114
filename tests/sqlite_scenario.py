"""Run by tests/test_sqlite.py in a subprocess whose DATABASE_URL is SQLite."""

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402

from carts import selectors, services  # noqa: E402
from carts.domain.errors import (  # noqa: E402
    CartLineLimitExceeded,
    ProductNotFound,
    QuantityLimitExceeded,
)
from carts.models import User  # noqa: E402


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
    add, put = services.cart_item_add, services.cart_item_set

    line, created = add(username="alice", product_id="L9ECAV7KIM", quantity=8)
    assert created and line.quantity == 8 and str(line.unit_price) == "89.99", line
    line, created = add(username="alice", product_id="L9ECAV7KIM", quantity=8)
    assert not created and line.quantity == 16, line
    assert str(line.line_total) == "1439.84", line
    line, created = put(username="alice", product_id="LS4PSXUNUM", quantity=3)
    assert created and str(line.line_total) == "55.47", line
    line, created = put(username="alice", product_id="LS4PSXUNUM", quantity=5)
    assert not created and line.quantity == 5, line

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
    services.cart_item_remove(username="alice", product_id="LS4PSXUNUM")
    services.cart_clear(username="alice", user_known=True)
    assert selectors.cart_get(username="alice").items == []
    print("sqlite scenario ok")


if __name__ == "__main__":
    main()
