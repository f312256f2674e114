"""The cart's rules, stated once: every writer (REST, gRPC, admin, commands)
checks them here, or runs SQL whose limits come from here (`limits()`)."""

import re
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator

from .errors import (
    IdTooLong,
    InvalidQuantity,
    InvalidUserId,
    ItemLimitExceeded,
    NullCharacter,
    QuantityLimitExceeded,
)
from .limits import Limits

USERNAME_MAX_LENGTH = 150  # User.username's
PRODUCT_ID_MAX_LENGTH = 64  # Product.id's
# Django's rule for a username (UnicodeUsernameValidator's pattern), compiled
# here: the validator's own regex is compiled lazily behind a proxy that costs
# about 2 µs a use, on every first write to a new id.
_USERNAME = re.compile(UnicodeUsernameValidator.regex, UnicodeUsernameValidator.flags)


def limits() -> Limits:
    """The deployment's limits (CART_MAX_LINE_QUANTITY, CART_MAX_LINES)."""
    return Limits(settings.CART_MAX_LINE_QUANTITY, settings.CART_MAX_LINES)


def check_quantity(quantity: int) -> None:
    """A write names at least one unit; an item never holds more than
    CART_MAX_LINE_QUANTITY units."""
    if quantity < 1:
        raise InvalidQuantity(quantity=quantity)
    if quantity > limits().max_item_quantity:
        raise QuantityLimitExceeded(limit=limits().max_item_quantity)


def check_added_quantity(held: int, added: int) -> None:
    """Adding `added` units to an item holding `held` stays within the limit."""
    if held + added > limits().max_item_quantity:
        raise QuantityLimitExceeded(limit=limits().max_item_quantity)


def has_room_for_item(item_count: int) -> bool:
    """Whether a cart of `item_count` items may take a new product."""
    return item_count < limits().max_items


def check_room_for_item(item_count: int) -> None:
    if not has_room_for_item(item_count):
        raise ItemLimitExceeded(limit=limits().max_items)


def check_user_id(user_id: str) -> None:
    """A new cart's id must be able to be a username (Django's rules), in
    NFKC form (as Django normalises usernames), so that no id is created
    beside one that looks the same ("\ufb00" beside "ff")."""
    check_user_id_storable(user_id)
    if (
        not _USERNAME.search(user_id)
        or unicodedata.normalize("NFKC", user_id) != user_id
    ):
        raise InvalidUserId(user_id=user_id)


def check_user_id_storable(user_id: str) -> None:
    """An id no user can have, as no column can hold it: over
    USERNAME_MAX_LENGTH characters, or a NUL (PostgreSQL refuses it in text).
    The error echoes at most USERNAME_MAX_LENGTH characters."""
    if len(user_id) > USERNAME_MAX_LENGTH or "\x00" in user_id:
        raise InvalidUserId(user_id=shown(user_id, USERNAME_MAX_LENGTH))


def check_product_id(product_id: str, *, field: str = "product_id") -> None:
    """A product id the catalog could hold, checked as the REST API's bodies
    are (codes `max_length`, `null_characters_not_allowed`)."""
    if len(product_id) > PRODUCT_ID_MAX_LENGTH:
        raise IdTooLong(field=field, limit=PRODUCT_ID_MAX_LENGTH)
    if "\x00" in product_id:
        raise NullCharacter(field=field)


def shown(value: str, limit: int) -> str:
    """`value` as an error message may echo it: at most `limit` characters
    (and an ellipsis), each NUL shown as U+FFFD."""
    return value[:limit].replace("\x00", "\ufffd") + ("…" if len(value) > limit else "")


class MergeMode(Enum):
    SUM = "sum"  # quantities add
    MAX = "max"  # the larger quantity stays


@dataclass
class MergePlan:
    """What a merge writes and what it tells the caller: every guest item is in
    `merged` or `dropped`; `clamped` lists merged items cut to the limit."""

    items: dict[str, int] = field(default_factory=dict)  # product -> new quantity
    merged: list[dict[str, Any]] = field(default_factory=list)
    clamped: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)


def plan_merge(
    *,
    guest_items: list[tuple[str, int, bool]],
    target_items: dict[str, int],
    mode: MergeMode,
) -> MergePlan:
    """Where each guest item (product, quantity, product active), oldest first,
    goes in a cart holding `target_items`: merged into the product's item (by
    `mode`, cut at the quantity limit), new while the item limit allows,
    dropped otherwise or when the product is no longer sold."""
    plan = MergePlan()
    item_count = len(target_items)
    max_quantity = limits().max_item_quantity
    for product_id, quantity, active in guest_items:
        existing = target_items.get(product_id)
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
            if not has_room_for_item(item_count):
                plan.dropped.append(
                    {
                        "product_id": product_id,
                        "quantity": quantity,
                        "reason": "cart_line_limit_exceeded",
                    }
                )
                continue
            item_count += 1
            requested = quantity
        elif mode is MergeMode.SUM:
            requested = existing + quantity
        else:
            requested = max(existing, quantity)
        applied = min(requested, max_quantity)
        plan.items[product_id] = applied
        plan.merged.append({"product_id": product_id, "quantity": quantity})
        if applied < requested:
            plan.clamped.append(
                {"product_id": product_id, "requested": requested, "applied": applied}
            )
    return plan
