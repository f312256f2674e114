"""What a cart holds, as every interface shows it: values, no persistence."""

from dataclasses import dataclass, field
from decimal import Decimal

CENT = Decimal("0.01")


def money(value: object) -> Decimal:
    """A price as stored (SQLite hands back int/float, PostgreSQL Decimal)."""
    return Decimal(str(value)).quantize(CENT)


@dataclass(frozen=True, slots=True)
class Item:
    """One product's entry in a cart (a `CartItem` row, an element of the
    API's `items`)."""

    product_id: str
    name: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class CartContents:
    """A cart at one version: its items in add order."""

    user_id: str
    items: list[Item] = field(default_factory=list)
    version: int = 0  # bumped by every change; 0: no cart row yet

    @property
    def total_quantity(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def subtotal(self) -> Decimal:
        return sum((item.line_total for item in self.items), Decimal("0.00"))
