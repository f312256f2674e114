"""Reads, with their joins spelled out so that each is one query."""

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from . import sql
from .domain.cart import Cart, CartLine, money
from .domain.errors import UserNotFound
from .models import Product


def cart_get(*, username: str) -> Cart:
    """The user's cart, lines in add order, in one query (user LEFT JOIN cart
    and lines). An unknown user's cart is empty (version 0), or UserNotFound
    when carts do not exist for any id (CART_AUTO_CREATE_USERS off)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.CART_SQL, {"username": username})
        rows = cursor.fetchall()
    if not rows:
        if not settings.CART_AUTO_CREATE_USERS:
            raise UserNotFound(user_id=username)
        return Cart(username, [], version=0)
    # An empty cart is one row of NULLs from the outer join.
    return Cart(
        username,
        [
            CartLine(product_id, name, quantity, money(price))
            for product_id, name, quantity, price, _ in rows
            if product_id is not None
        ],
        version=rows[0][-1],
    )


def cart_version(*, username: str) -> int:
    """The cart's version alone, for a GET that may be answered 304: what
    cart_get would say, without reading the lines (0 for an unknown user,
    UserNotFound when carts do not exist for any id)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.CART_VERSION_SQL, {"username": username})
        row = cursor.fetchone()
    if row is None:
        if not settings.CART_AUTO_CREATE_USERS:
            raise UserNotFound(user_id=username)
        return 0
    version: int = row[0]
    return version


def product_list() -> list[Product]:
    return list(Product.objects.filter(active=True).only("id", "name", "price"))


def product_get(*, product_id: str) -> Product | None:
    return (
        Product.objects.filter(pk=product_id, active=True)
        .only("id", "name", "price")
        .first()
    )


_migrations_applied = False


def database_ready() -> bool:
    """True when the database answers and every migration is applied."""
    global _migrations_applied
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_applied:
            # Loading the migration graph is slow; once applied, it stays so
            # for the life of this process (new migrations mean a new deploy).
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            _migrations_applied = not plan
        return _migrations_applied
    except DatabaseError:
        return False
