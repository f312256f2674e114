"""What a cart holds, as every interface shows it: values, no persistence."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

CENT = Decimal("0.01")


def money(value: object) -> Decimal:
    """A price as stored (SQLite hands back int/float, PostgreSQL Decimal)."""
    if isinstance(value, Decimal):  # no round trip through a string
        return value.quantize(CENT)
    return Decimal(str(value)).quantize(CENT)


def rfc3339(moment: datetime) -> str:
    """A time on the wire: RFC 3339, UTC as "Z"."""
    return moment.isoformat().replace("+00:00", "Z")


class Item(NamedTuple):
    """One product's entry in a cart (a `CartItem` row, an element of the
    API's `items`). `unit_price` is the catalog's current price, what is
    charged; `added_unit_price` the price when the item was first added.
    A named tuple: a read builds one per line, at a quarter of a frozen
    dataclass's cost."""

    product_id: str
    name: str
    quantity: int
    unit_price: Decimal
    added_unit_price: Decimal
    available: bool = True  # False: the product was deactivated since

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def warning(self) -> dict[str, Any] | None:
        """What the customer should know about this item before paying."""
        if not self.available:
            return {"code": "product_unavailable", "product_id": self.product_id}
        if self.added_unit_price != self.unit_price:
            return {
                "code": "price_changed",
                "product_id": self.product_id,
                "added_unit_price": self.added_unit_price,
                "unit_price": self.unit_price,
            }
        return None


@dataclass(frozen=True, slots=True)
class Hold:
    """A live checkout hold of a cart."""

    id: UUID
    expires_at: datetime

    @property
    def state(self) -> str:
        return "held"


@dataclass(frozen=True, slots=True)
class CartContents:
    """A cart at one version: its items in add order, its live hold if any.
    Unavailable items are shown but neither counted nor charged."""

    user_id: str
    items: list[Item] = field(default_factory=list)
    version: int = 0  # bumped by every change; 0: no cart row yet
    hold: Hold | None = None

    @property
    def available_items(self) -> list[Item]:
        return [item for item in self.items if item.available]

    @property
    def total_quantity(self) -> int:
        return sum(item.quantity for item in self.available_items)

    @property
    def subtotal(self) -> Decimal:
        return sum((item.line_total for item in self.available_items), Decimal("0.00"))

    @property
    def warnings(self) -> list[dict[str, Any]]:
        warnings = (item.warning for item in self.items)
        return [warning for warning in warnings if warning is not None]
