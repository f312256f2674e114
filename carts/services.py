"""Every write to a cart.

Each write is ONE SQL statement, hence atomic by itself and one round trip.
The add is an `INSERT ... ON CONFLICT (user_id, product_id) DO UPDATE` that
increments in the database: the unique constraint makes concurrent adds of one
product serialise on its row, so no update is lost and no second line appears,
and the limit in the `DO UPDATE ... WHERE` is checked against the row it locked.
The ORM cannot say "insert or increment, with a condition", so the statements
are raw SQL, parameterised, kept in carts/sql.py; they run unchanged on SQLite
(3.35+) and PostgreSQL.
"""

from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.utils import timezone

from . import sql
from .domain.cart import CartLine, money
from .domain.errors import (
    CartLineLimitExceeded,
    LineNotFound,
    ProductNotFound,
    QuantityLimitExceeded,
    UserNotFound,
)
from .models import User


class _Facts(NamedTuple):
    user_exists: bool
    product_exists: bool
    line_exists: bool


def cart_item_add(
    *, username: str, product_id: str, quantity: int
) -> tuple[CartLine, bool]:
    """Add `quantity` units, merging into an existing line; True if the line is new."""
    max_quantity = settings.CART_MAX_LINE_QUANTITY
    if quantity > max_quantity:
        raise QuantityLimitExceeded(limit=max_quantity)
    row = _write_line(sql.ADD_SQL, username, product_id, quantity)
    if row is None:
        facts = _diagnose(username, product_id)
        _raise_missing(username, product_id, facts)
        if facts.line_exists:
            raise QuantityLimitExceeded(limit=max_quantity)
        raise CartLineLimitExceeded(limit=settings.CART_MAX_LINES)
    new_quantity, _, name, price = row
    # Exact even for concurrent requests: a merged line always holds more
    # than the units this request added.
    return CartLine(
        product_id, name, new_quantity, money(price)
    ), new_quantity == quantity


def cart_item_set(
    *, username: str, product_id: str, quantity: int
) -> tuple[CartLine, bool]:
    """Set a line to exactly `quantity` (>= 1) units, creating it; True if new."""
    max_quantity = settings.CART_MAX_LINE_QUANTITY
    if quantity > max_quantity:
        raise QuantityLimitExceeded(limit=max_quantity)
    row = _write_line(sql.SET_SQL, username, product_id, quantity)
    if row is None:
        _raise_missing(username, product_id, _diagnose(username, product_id))
        raise CartLineLimitExceeded(limit=settings.CART_MAX_LINES)
    new_quantity, created, name, price = row
    return CartLine(product_id, name, new_quantity, money(price)), bool(created)


def cart_item_remove(*, username: str, product_id: str) -> None:
    """Remove one line; LineNotFound if the product is not in the cart."""
    if _execute(sql.REMOVE_SQL, username=username, product_id=product_id):
        return
    if not _diagnose(username, product_id).user_exists:
        raise UserNotFound(user_id=username)
    raise LineNotFound(product_id=product_id)


def cart_item_set_or_remove(
    *, username: str, product_id: str, quantity: int
) -> tuple[CartLine | None, bool]:
    """PUT semantics: quantity 0 removes the line (if any), otherwise sets it."""
    if quantity:
        return cart_item_set(
            username=username, product_id=product_id, quantity=quantity
        )
    # Removing a line that is not there is a no-op, unless the ids are unknown.
    if not _execute(sql.REMOVE_SQL, username=username, product_id=product_id):
        _raise_missing(username, product_id, _diagnose(username, product_id))
    return None, False


def cart_clear(*, username: str, user_known: bool) -> None:
    """Empty the cart; idempotent. `user_known` (the caller's own cart) saves
    the existence check when there was nothing to delete."""
    if _execute(sql.CLEAR_SQL, username=username) or user_known:
        return
    if not User.objects.filter(username=username).exists():
        raise UserNotFound(user_id=username)


def _write_line(sql: str, username: str, product_id: str, quantity: int):
    params = {
        "username": username,
        "product_id": product_id,
        "quantity": quantity,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "max_lines": settings.CART_MAX_LINES,
        "max_quantity": settings.CART_MAX_LINE_QUANTITY,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _execute(sql: str, **params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _diagnose(username: str, product_id: str) -> _Facts:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.DIAGNOSE_SQL, {"username": username, "product_id": product_id}
        )
        return _Facts(*(bool(flag) for flag in cursor.fetchone()))


def _raise_missing(username: str, product_id: str, facts: _Facts) -> None:
    if not facts.user_exists:
        raise UserNotFound(user_id=username)
    if not facts.product_exists:
        raise ProductNotFound(product_id=product_id)
