"""The cart as the interfaces see it: value objects, no persistence."""

from dataclasses import dataclass, field
from decimal import Decimal

CENT = Decimal("0.01")


def money(value: object) -> Decimal:
    """A price as stored (SQLite hands back int/float, PostgreSQL Decimal)."""
    return Decimal(str(value)).quantize(CENT)


@dataclass(frozen=True, slots=True)
class CartLine:
    product_id: str
    name: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Cart:
    user_id: str
    items: list[CartLine] = field(default_factory=list)
    version: int = 0  # bumped by every change; 0: no cart row yet

    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.items)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.items), Decimal("0.00"))
