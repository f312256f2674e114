"""The cart's direct renderers (CartItemOutput.render, CartOutput.render) give
what their serializer's fields give, for any cart the service can hold."""

from datetime import UTC
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from carts.api.serializers import CartItemOutput, CartOutput
from carts.domain.cart import CartContents, Hold, Item

# Prices as stored (numeric(12, 2)), quantities up to any configured limit.
prices = st.decimals(
    min_value=0, max_value=Decimal("9999999999.99"), places=2, allow_nan=False
)
lines = st.builds(
    Item,
    product_id=st.text(min_size=1, max_size=64),
    name=st.text(max_size=100),
    quantity=st.integers(min_value=1, max_value=2**31 - 1),
    unit_price=prices,
    added_unit_price=prices,
    available=st.booleans(),
)
carts = st.builds(
    CartContents,
    user_id=st.text(min_size=1, max_size=150),
    items=st.lists(lines, max_size=5),
    version=st.integers(min_value=0, max_value=2**63 - 1),
    hold=st.one_of(
        st.none(),
        st.builds(Hold, id=st.uuids(), expires_at=st.datetimes(timezones=st.just(UTC))),
    ),
)


def by_fields(serializer_class: type[serializers.Serializer], instance) -> dict:
    """DRF's own rendering: every declared field's to_representation."""
    return serializers.Serializer.to_representation(serializer_class(), instance)


@settings(max_examples=300, deadline=None)
@given(carts)
def test_a_cart_renders_as_its_fields_do(cart):
    assert CartOutput.render(cart) == by_fields(CartOutput, cart)


@settings(max_examples=300, deadline=None)
@given(lines)
def test_a_line_renders_as_its_fields_do(line):
    assert CartItemOutput.render(line) == by_fields(CartItemOutput, line)


def test_the_edges_render_as_the_fields_do():
    for line in (
        Item("p", "", 1, Decimal("0.00"), Decimal("0.00")),
        Item("p", "x", 2**31 - 1, Decimal("9999999999.99"), Decimal("0.01")),
        Item("p", "\u2028", 3, Decimal("0.10"), Decimal("0.10"), available=False),
    ):
        assert CartItemOutput.render(line) == by_fields(CartItemOutput, line)
    empty = CartContents("u", [], version=0)
    assert CartOutput.render(empty) == by_fields(CartOutput, empty)
    assert CartOutput.render(empty)["subtotal"] == "0.00"
