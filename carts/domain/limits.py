"""The cart's two limits and their defaults, with no Django import: the
settings (CART_MAX_LINE_QUANTITY, CART_MAX_LINES), the SQL statements'
parameters and the benchmark's floor all read them from here."""

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)  # no slots: the class attributes are the defaults
class Limits:
    max_item_quantity: int = 1000  # units in one item
    max_items: int = 100  # items (products) in one cart

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Limits":
        """The limits a deployment sets, as the service's settings read them."""
        return cls(
            max_item_quantity=int(
                environ.get("CART_MAX_LINE_QUANTITY") or cls.max_item_quantity
            ),
            max_items=int(environ.get("CART_MAX_LINES") or cls.max_items),
        )

    def sql_params(self) -> dict[str, int]:
        """The limits as the write statements take them (carts/cart/sql.py)."""
        return {"max_quantity": self.max_item_quantity, "max_lines": self.max_items}
