"""The API's rules for a cart line, for the admin forms that edit one.

The API enforces them in carts.services; an operator's edit in the admin gets
the same rules (carts.domain.rules) as form errors, so it never reaches a
database constraint. The admin records each saved change with
services.carts_changed, which bumps the carts' versions.
"""

from typing import Any

from django import forms

from . import services
from .domain import rules
from .domain.errors import CartLineLimitExceeded, QuantityLimitExceeded
from .models import CartItem


class CartItemForm(forms.ModelForm[CartItem]):
    """A cart line within the limits: 1..CART_MAX_LINE_QUANTITY units, an
    active product for a new line, at most CART_MAX_LINES lines per cart.
    One line per product comes from the model's unique constraint."""

    class Meta:
        model = CartItem
        fields = ["user", "product", "quantity"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The browser checks the limits before sending; clean_quantity after.
        self.fields["quantity"].widget.attrs.update(
            min=1, max=rules.max_line_quantity()
        )

    def clean_quantity(self) -> int:
        quantity: int = self.cleaned_data["quantity"]
        try:
            rules.check_quantity(quantity)
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
        if user and (self.instance._state.adding or "user" in self.changed_data):
            # Counted under the cart's lock, as the API's writes count: the
            # admin's page is one transaction, so the count holds until saved.
            services.cart_lock(user_id=user.pk)
            limit = rules.max_lines()
            if CartItem.objects.filter(user=user).count() >= limit:
                raise forms.ValidationError(
                    str(CartLineLimitExceeded(limit=limit)), code="line_limit"
                )
        return cleaned_data
