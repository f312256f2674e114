"""Reads of a cart and of the catalog, each one query with its joins spelled
out."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..domain.cart import CartContents, Hold, Item, money
from ..domain.errors import UserNotFound
from ..models import Product
from . import sql
from .owners import owner_pk_forget, owner_pk_known, owner_pk_met


def cart_get(*, user_id: str) -> CartContents:
    """The user's cart, items in add order, and its live checkout hold, in
    one query (user LEFT JOIN cart, items and hold). An unknown user's cart
    is empty (version 0), or UserNotFound when carts do not exist for any id
    (CART_AUTO_CREATE_USERS off)."""
    rows = _read(sql.CART_SQL, user_id)
    if not rows:
        if not settings.CART_AUTO_CREATE_USERS:
            raise UserNotFound(user_id=user_id)
        return CartContents(user_id, [], version=0)
    # An empty cart is one row of NULLs from the outer join.
    *_, hold_id, hold_expires_at, version, _ = rows[0]
    return CartContents(
        user_id,
        [
            # No price as added: the current one (sql.CART_SQL).
            Item(
                product_id,
                name,
                quantity,
                unit := money(price),
                unit if added is None else money(added),
                available,
            )
            for product_id, name, quantity, price, added, available, *_ in rows
            if product_id is not None
        ],
        version=version,
        hold=None if hold_id is None else _live_hold(hold_id, hold_expires_at),
    )


def _live_hold(checkout_id: str, expires_at: object) -> Hold | None:
    """The cart's held checkout as the row gives it (PostgreSQL's
    timestamptz, or SQLite's text), unless it has expired: a hold past its
    expiry counts as released (carts.cart.checkout), by the same clock the
    writes compare it with (carts.cart.aggregate.sql_now)."""
    if isinstance(expires_at, str):
        parsed = parse_datetime(expires_at)
        assert parsed is not None  # as Django stored it
        expires_at = parsed.replace(tzinfo=parsed.tzinfo or UTC)
    assert isinstance(expires_at, datetime)
    if expires_at <= timezone.now():
        return None
    return Hold(UUID(checkout_id), expires_at)


def cart_version(*, user_id: str) -> int:
    """The cart's version alone, for a GET that may be answered 304: what
    cart_get would say, without reading the items (0 for an unknown user,
    UserNotFound when carts do not exist for any id)."""
    rows = _read(sql.CART_VERSION_SQL, user_id)
    if not rows:
        if not settings.CART_AUTO_CREATE_USERS:
            raise UserNotFound(user_id=user_id)
        return 0
    version: int = rows[0][0]
    return version


def _read(statement: str, user_id: str, **params: Any) -> list[tuple[Any, ...]]:
    """The rows of a statement on the cart of `user_id` whose last column is
    the user's pk, by its remembered pk if any, else by the id (a remembered
    pk gone stale finds no row: by the id again); none for an unknown
    user."""
    user_pk = owner_pk_known(user_id)
    rows = _rows(statement, user_id, user_pk, params)
    if not rows and user_pk is not None:
        owner_pk_forget(user_id)
        rows = _rows(statement, user_id, owner_pk_known(user_id), params)
    if rows:
        owner_pk_met(user_id, rows[0][-1])
    return rows


def _rows(
    statement: str, user_id: str, user_pk: int | None, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, {"username": user_id, "user_pk": user_pk, **params})
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def product_list() -> list[Product]:
    return list(Product.objects.filter(active=True).only("id", "name", "price"))


def product_get(*, product_id: str) -> Product | None:
    return (
        Product.objects.filter(pk=product_id, active=True)
        .only("id", "name", "price")
        .first()
    )
