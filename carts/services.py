"""Every write to a cart's lines.

A write is the lock of the cart's row, one SQL statement that changes a line,
and the bump of the cart's version, all in one round trip on PostgreSQL
(carts/sql.py says how and why). The add is an `INSERT ... ON CONFLICT
(user_id, product_id) DO UPDATE` that increments in the database: concurrent
adds to one cart wait for its row lock, so no update is lost, no second line
appears, and both limits are checked against what is committed. The ORM
cannot say "insert or increment, with a condition", so the statements are raw
SQL, parameterised, kept in carts/sql.py.

The hot path assumes the cart exists. Only when a write is refused does one
more query say why; a user or cart row that does not exist yet is then created
(when allowed) in a transaction with the write itself, so a refused write
creates nothing.
"""

from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from . import sql
from .domain import rules
from .domain.cart import CartLine, money
from .domain.errors import (
    CartError,
    CartLineLimitExceeded,
    GuestAlreadyMerged,
    LineNotFound,
    PreconditionFailed,
    ProductNotFound,
    QuantityLimitExceeded,
    UserNotFound,
)
from .models import Cart
from .owners import NewOwner, carts_ensure, owner_cart_ensure

# The cart versions a write accepts (its If-Match); None: any.
Versions = Set[int] | None


@dataclass(frozen=True, slots=True)
class LineWrite:
    """A line as written, whether the write created it, the cart's new version."""

    line: CartLine
    created: bool
    version: int


class _Facts(NamedTuple):
    username: str
    product_id: str
    user_exists: bool
    cart_exists: bool
    cart_merged: bool
    product_exists: bool
    line_quantity: int | None
    line_count: int


def cart_item_add(
    *,
    username: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> LineWrite:
    """Add `quantity` units, merging into an existing line; exact limits under
    any concurrency. `new_owner`: what to create when the user does not exist
    (None: UserNotFound). `if_match`: the cart versions the caller accepts
    (None: any); another version is PreconditionFailed, nothing changed."""
    rules.check_quantity(quantity)
    return _write_line(
        _LineStatements(sql.ADD_LINE, sql.ADD_SQL, adds=True),
        username,
        product_id,
        quantity,
        new_owner,
        if_match,
    )


def cart_item_set(
    *,
    username: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> LineWrite:
    """Set a line to exactly `quantity` (>= 1) units, creating it."""
    rules.check_quantity(quantity)
    return _write_line(
        _LineStatements(sql.SET_LINE, sql.SET_SQL, adds=False),
        username,
        product_id,
        quantity,
        new_owner,
        if_match,
    )


def cart_item_remove(
    *, username: str, product_id: str, if_match: Versions = None
) -> int:
    """Remove one line and return the cart's new version; LineNotFound if the
    product is not in the cart (UserNotFound for an unknown user, unless carts
    exist for any id)."""
    change = _delete(sql.REMOVE_LINE, sql.REMOVE_SQL, username, product_id, if_match)
    if change.changed:
        return change.version
    if (
        not settings.CART_AUTO_CREATE_USERS
        and not _diagnose(username, product_id).user_exists
    ):
        raise UserNotFound(user_id=username)
    raise LineNotFound(product_id=product_id)


def cart_item_set_or_remove(
    *,
    username: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> LineWrite | int:
    """PUT semantics: quantity 0 removes the line if there is one and returns
    the cart's version (removing no line is no change), otherwise sets it."""
    if quantity:
        return cart_item_set(
            username=username,
            product_id=product_id,
            quantity=quantity,
            new_owner=new_owner,
            if_match=if_match,
        )
    change = _delete(sql.REMOVE_LINE, sql.REMOVE_SQL, username, product_id, if_match)
    if change.changed:
        return change.version
    # Removing a line that is not there is a no-op, for any id and product.
    facts = _diagnose(username, product_id)
    if not facts.user_exists:
        if not settings.CART_AUTO_CREATE_USERS:
            raise UserNotFound(user_id=username)
        # A PUT is a write, whatever the quantity: an id that can never be a
        # cart is refused as for quantity >= 1.
        rules.check_user_id(username)
    if not facts.product_exists:
        raise ProductNotFound(product_id=product_id)
    return change.version


def cart_clear(*, username: str, user_known: bool, if_match: Versions = None) -> int:
    """Empty the cart, idempotent; the cart's version after. `user_known`
    (the caller's own cart) saves the existence check when there was nothing
    to delete."""
    change = _delete(sql.CLEAR_LINES, sql.CLEAR_SQL, username, None, if_match)
    if change.changed:
        return change.version
    if (
        not user_known
        and not settings.CART_AUTO_CREATE_USERS
        and not _diagnose(username, "").user_exists
    ):
        raise UserNotFound(user_id=username)
    return change.version


def cart_lock(*, user_id: int) -> None:
    """Lock the user's cart row (created if missing) until the transaction
    ends, as every line write does: for writers outside these statements."""
    carts_ensure(user_ids=[user_id])
    list(Cart.objects.select_for_update().filter(user_id=user_id).values("pk"))


def carts_changed(*, user_ids: Iterable[int]) -> None:
    """Record changes made to these carts' lines outside these statements
    (the admin's forms): a new version and last change for each."""
    user_ids = set(user_ids)
    carts_ensure(user_ids=user_ids)
    Cart.objects.filter(user_id__in=user_ids).update(
        version=F("version") + 1, updated_at=timezone.now()
    )


class _LineStatements(NamedTuple):
    line_sql: str  # SQLite: the change alone
    one_trip_sql: str  # PostgreSQL: lock, change, bump
    adds: bool


def _write_line(
    statements: _LineStatements,
    username: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions,
) -> LineWrite:
    params: dict[str, Any] = {
        "username": username,
        "product_id": product_id,
        "quantity": quantity,
    }

    def write() -> _Change:
        change = _change(
            statements.line_sql, statements.one_trip_sql, if_match=if_match, **params
        )
        if not change.changed:
            _check_precondition(username, change.version, if_match)
        return change

    def refusal() -> CartError | None:
        facts = _diagnose(username, product_id)
        return _refusal(facts, quantity, adds=statements.adds)

    change = write()
    if not change.changed:
        if error := refusal():
            raise error
        # The cart did not exist (or appeared meanwhile): create what is
        # missing and write again, in one transaction, so that a refused write
        # leaves nothing behind. A new cart is at version 0, as no cart is.
        with transaction.atomic():
            owner_cart_ensure(username=username, new_owner=new_owner)
            change = write()
            if not change.changed:
                raise refusal() or CartLineLimitExceeded(limit=rules.max_lines())
    assert change.row is not None  # changed
    _, new_quantity, created, name, price = change.row
    line = CartLine(product_id, name, new_quantity, money(price))
    return LineWrite(line, bool(created), change.version)


class _Change(NamedTuple):
    version: int  # the cart's, after the write (0: no cart row)
    row: tuple[Any, ...] | None  # the change's first row; None if it changed nothing

    @property
    def changed(self) -> bool:
        return self.row is not None


def _change(
    line_sql: str, one_trip_sql: str, *, if_match: Versions, **params: Any
) -> _Change:
    """Run one write if the cart's version is one of `if_match` (None: any)."""
    params |= {
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "max_lines": rules.max_lines(),
        "max_quantity": rules.max_line_quantity(),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                one_trip_sql,
                params | {"if_match": None if if_match is None else list(if_match)},
            )
            version, *row = cursor.fetchone()
            return _Change(version, tuple(row) if row[0] is not None else None)
        with transaction.atomic():
            cursor.execute(sql.CART_VERSION_SQL, params)
            found = cursor.fetchone()
            version = found[0] if found else 0
            if if_match is not None and version not in if_match:
                return _Change(version, None)
            cursor.execute(line_sql, params)
            rows = cursor.fetchall()
            if not rows:
                return _Change(version, None)
            cursor.execute(
                sql.BUMP_VERSION.format(owner="%(user_id)s"),
                params | {"user_id": rows[0][0]},
            )
            bumped = cursor.fetchone()
            return _Change(bumped[0] if bumped else version, rows[0])


def _delete(
    line_sql: str,
    one_trip_sql: str,
    username: str,
    product_id: str | None,
    if_match: Versions,
) -> _Change:
    """Delete lines; PreconditionFailed when `if_match` kept it from running."""
    change = _change(
        line_sql,
        one_trip_sql,
        username=username,
        product_id=product_id,
        if_match=if_match,
    )
    if not change.changed:
        _check_precondition(username, change.version, if_match)
    return change


def _check_precondition(username: str, version: int, if_match: Versions) -> None:
    if if_match is not None and version not in if_match:
        raise PreconditionFailed(user_id=username, version=version)


def _diagnose(username: str, product_id: str) -> _Facts:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.DIAGNOSE_SQL, {"username": username, "product_id": product_id}
        )
        return _Facts(username, product_id, *cursor.fetchone())


def _refusal(facts: _Facts, quantity: int, *, adds: bool) -> CartError | None:
    """Why a line write changed nothing, if the cart's state explains it; None
    when the user or cart row is missing, or was created since the write."""
    if not facts.cart_exists:
        return None
    if facts.cart_merged:
        return GuestAlreadyMerged(user_id=facts.username)
    if not facts.product_exists:
        return ProductNotFound(product_id=facts.product_id)
    if facts.line_quantity is None:
        if facts.line_count >= rules.max_lines():
            return CartLineLimitExceeded(limit=rules.max_lines())
    elif adds and facts.line_quantity + quantity > rules.max_line_quantity():
        return QuantityLimitExceeded(limit=rules.max_line_quantity())
    return None
