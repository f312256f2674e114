"""The cart's rules, stated once: every writer (REST, gRPC, admin, commands)
checks them here or runs SQL that takes its limits from here."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from .errors import InvalidUserId, QuantityLimitExceeded

USERNAME_MAX_LENGTH = 150
_username_validator = UnicodeUsernameValidator()


def max_line_quantity() -> int:
    return settings.CART_MAX_LINE_QUANTITY


def max_lines() -> int:
    return settings.CART_MAX_LINES


def check_quantity(quantity: int) -> None:
    """A line never holds more than CART_MAX_LINE_QUANTITY units."""
    if quantity > max_line_quantity():
        raise QuantityLimitExceeded(limit=max_line_quantity())


def check_user_id(user_id: str) -> None:
    """A cart's id must be able to be a username (Django's rules)."""
    try:
        if len(user_id) > USERNAME_MAX_LENGTH:
            raise ValidationError("too long")
        _username_validator(user_id)
    except ValidationError:
        raise InvalidUserId(user_id=user_id) from None


class MergeMode(Enum):
    SUM = "sum"  # quantities add
    MAX = "max"  # the larger quantity stays


@dataclass
class MergePlan:
    """What a merge writes and what it tells the caller: every guest line is in
    `merged` or `dropped`; `clamped` lists merged lines cut to the limit."""

    lines: dict[str, int] = field(default_factory=dict)  # product -> new quantity
    merged: list[dict[str, Any]] = field(default_factory=list)
    clamped: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)


def plan_merge(
    *,
    guest_lines: list[tuple[str, int, bool]],
    target_lines: dict[str, int],
    mode: MergeMode,
) -> MergePlan:
    """Where each guest line (product, quantity, product active), oldest first,
    goes in a cart holding `target_lines`: merged into the product's line (by
    `mode`, cut at the quantity limit), new while the line limit allows,
    dropped otherwise or when the product is no longer sold."""
    plan = MergePlan()
    line_count = len(target_lines)
    for product_id, quantity, active in guest_lines:
        existing = target_lines.get(product_id)
        if not active:
            plan.dropped.append(
                {
                    "product_id": product_id,
                    "quantity": quantity,
                    "reason": "product_not_found",
                }
            )
            continue
        if existing is None:
            if line_count >= max_lines():
                plan.dropped.append(
                    {
                        "product_id": product_id,
                        "quantity": quantity,
                        "reason": "cart_line_limit_exceeded",
                    }
                )
                continue
            line_count += 1
            requested = quantity
        elif mode is MergeMode.SUM:
            requested = existing + quantity
        else:
            requested = max(existing, quantity)
        applied = min(requested, max_line_quantity())
        plan.lines[product_id] = applied
        plan.merged.append({"product_id": product_id, "quantity": quantity})
        if applied < requested:
            plan.clamped.append(
                {"product_id": product_id, "requested": requested, "applied": applied}
            )
    return plan
