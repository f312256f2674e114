"""The cart's rules for an item, for the admin forms that edit one.

The API enforces them in carts.cart.items; an operator's edit in the admin
gets the same rules (carts.domain.rules) as form errors, so it never reaches a
database constraint. The admin saves each change through the cart aggregate
(carts.admin: carts.cart.aggregate.cart_change), which locks the carts first
and records the change.
"""

from typing import Any

from django import forms

from .cart.aggregate import carts_check_not_held, carts_ensure, carts_lock
from .domain import rules
from .domain.errors import (
    CartInCheckout,
    InvalidQuantity,
    ItemLimitExceeded,
    QuantityLimitExceeded,
)
from .models import CartItem, User


def check_not_held(user_pks: list[int]) -> None:
    """A form error if a checkout holds one of these carts, which stay locked
    until the admin's page transaction saves (so no hold begins meanwhile)."""
    carts_ensure(user_pks=user_pks)
    try:
        carts_check_not_held(carts=carts_lock(user_pks=user_pks))
    except CartInCheckout as error:
        raise forms.ValidationError(str(error), code="cart_in_checkout") from None


class CartItemFormSet(
    forms.BaseInlineFormSet[CartItem, User, forms.ModelForm[CartItem]]
):
    """A user's cart lines: none is saved or deleted while the cart is held."""

    def clean(self) -> None:
        super().clean()
        if self.has_changed():
            check_not_held([self.instance.pk])


class CartItemForm(forms.ModelForm[CartItem]):
    """A cart item within the limits: 1..CART_MAX_LINE_QUANTITY units, an
    active product for a new item, at most CART_MAX_LINES items per cart.
    One item per product comes from the model's unique constraint."""

    class Meta:
        model = CartItem
        fields = ["user", "product", "quantity"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The browser checks the limits before sending; clean_quantity after.
        self.fields["quantity"].widget.attrs.update(
            min=1, max=rules.limits().max_item_quantity
        )
        if "user" in self.fields and not self.instance._state.adding:
            # An item stays in the cart it was added to (CartItem.save). (A
            # user page's lines have no such field: their owner is the page.)
            self.fields["user"].disabled = True

    def clean_quantity(self) -> int:
        quantity: int = self.cleaned_data["quantity"]
        try:
            rules.check_quantity(quantity)
        except InvalidQuantity as error:
            raise forms.ValidationError(str(error), code="min_value") from None
        except QuantityLimitExceeded as error:
            raise forms.ValidationError(str(error), code="max_value") from None
        return quantity

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        assert cleaned_data is not None  # a ModelForm's clean() returns it
        product = cleaned_data.get("product")
        if "product" in self.changed_data and product and not product.active:
            self.add_error(
                "product", f"Product '{product.pk}' is inactive: carts cannot take it."
            )
        user = cleaned_data.get("user")
        if user and self.has_changed():
            check_not_held([user.pk])
        if user and self.instance._state.adding:
            # Counted under the cart's lock, as the API's writes count: the
            # admin's page is one transaction, so the count holds until saved.
            carts_ensure(user_pks=[user.pk])
            carts_lock(user_pks=[user.pk])
            try:
                rules.check_room_for_item(CartItem.objects.filter(user=user).count())
            except ItemLimitExceeded as error:
                raise forms.ValidationError(str(error), code="line_limit") from None
        return cleaned_data
