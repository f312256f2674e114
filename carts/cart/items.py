"""Every write of a cart's items from the API and gRPC: add, set, remove, clear.

A write is the lock of the cart's row, one SQL statement that changes an
item, and the record of the change, all in one round trip on PostgreSQL
(carts/cart/sql.py says how and why; carts.cart.aggregate states the rules).
The add is an `INSERT ... ON CONFLICT (user_id, product_id) DO UPDATE` that
increments in the database: concurrent adds to one cart wait for its row
lock, so no update is lost, no second item appears, and both limits are
checked against what is committed. The ORM cannot say "insert or increment,
with a condition", so the statements are raw SQL, parameterised.

The hot path assumes the cart exists. The first write to an id not met yet,
by a caller that may create users, creates its user and cart row in the
same round trip, when the write can succeed on an empty cart (sql.OWNER_ENSURE).
Only when a write is refused does one more query say why; a user or cart row
that does not exist yet is then created (when allowed) in a transaction with
the write itself, so a refused write creates nothing.
"""

from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction

from ..domain import rules
from ..domain.cart import Item, money
from ..domain.errors import (
    CartError,
    CartInCheckout,
    GuestAlreadyMerged,
    ItemLimitExceeded,
    ItemNotFound,
    PreconditionFailed,
    ProductNotFound,
    UserNotFound,
)
from . import sql
from .aggregate import Change, Versions, Write, one_write
from .owners import (
    NewOwner,
    owner_cart_ensure,
    owner_creation,
    owner_pk_forget,
    owner_pk_known,
    owner_pk_met,
)


@dataclass(frozen=True, slots=True)
class ItemWrite:
    """An item as written, whether the write created it, the cart's new version."""

    item: Item
    created: bool
    version: int


class _Facts(NamedTuple):
    user_id: str
    product_id: str
    user_exists: bool
    cart_exists: bool
    cart_merged: bool
    product_exists: bool
    item_quantity: int | None
    item_count: int


class _ItemWrite(NamedTuple):
    write: Write
    adds: bool


def _product(params: dict[str, Any]) -> dict[str, Any]:
    return {"product_id": params["product_id"]}


_ADD = _ItemWrite(
    Write(
        sql.ADD_ITEM,
        sql.ADD_SQL,
        sql.ITEM_ADDED,
        lambda params, rows: (
            _product(params)
            | {"quantity_added": params["quantity"], "quantity": rows[0][1]}
        ),
        sql.CITUS_ADD_ITEM,
    ),
    adds=True,
)
_SET = _ItemWrite(
    Write(
        sql.SET_ITEM,
        sql.SET_SQL,
        sql.ITEM_UPDATED,
        lambda params, rows: _product(params) | {"quantity": params["quantity"]},
        sql.CITUS_SET_ITEM,
    ),
    adds=False,
)
_REMOVE = Write(
    sql.REMOVE_ITEM,
    sql.REMOVE_SQL,
    sql.ITEM_REMOVED,
    lambda params, rows: _product(params),
)
_CLEAR = Write(
    sql.CLEAR_ITEMS,
    sql.CLEAR_SQL,
    sql.CLEARED,
    lambda params, rows: {"product_ids": sorted(row[1] for row in rows)},
)


def cart_item_add(
    *,
    user_id: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> ItemWrite:
    """Add `quantity` units, merging into an existing item; exact limits under
    any concurrency. `new_owner`: what to create when the user does not exist
    (None: UserNotFound). `if_match`: the cart versions the caller accepts
    (None: any); another version is PreconditionFailed, nothing changed."""
    rules.check_quantity(quantity)
    return _write_item(_ADD, user_id, product_id, quantity, new_owner, if_match)


def cart_item_set(
    *,
    user_id: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> ItemWrite:
    """Set an item to exactly `quantity` (>= 1) units, creating it."""
    rules.check_quantity(quantity)
    return _write_item(_SET, user_id, product_id, quantity, new_owner, if_match)


def cart_item_remove(
    *, user_id: str, product_id: str, if_match: Versions = None
) -> int:
    """Remove one item and return the cart's new version; ItemNotFound if the
    product is not in the cart (UserNotFound for an unknown user, unless carts
    exist for any id)."""
    change = _write(_REMOVE, user_id, if_match, product_id=product_id)
    if change.changed:
        return change.version
    if (
        not settings.CART_AUTO_CREATE_USERS
        and not _diagnose(user_id, product_id).user_exists
    ):
        raise UserNotFound(user_id=user_id)
    raise ItemNotFound(product_id=product_id)


def cart_item_set_or_remove(
    *,
    user_id: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> ItemWrite | int:
    """PUT semantics: quantity 0 removes the item if there is one and returns
    the cart's version (removing no item is no change), otherwise sets it."""
    if quantity:
        return cart_item_set(
            user_id=user_id,
            product_id=product_id,
            quantity=quantity,
            new_owner=new_owner,
            if_match=if_match,
        )
    change = _write(_REMOVE, user_id, if_match, product_id=product_id)
    if change.changed:
        return change.version
    # Removing an item that is not there is a no-op, for any id and product.
    facts = _diagnose(user_id, product_id)
    if not facts.user_exists:
        if not settings.CART_AUTO_CREATE_USERS:
            raise UserNotFound(user_id=user_id)
        # A PUT is a write, whatever the quantity: an id that can never be a
        # cart is refused as for quantity >= 1.
        rules.check_user_id(user_id)
    if not facts.product_exists:
        raise ProductNotFound(product_id=product_id)
    return change.version


def cart_clear(*, user_id: str, user_known: bool, if_match: Versions = None) -> int:
    """Empty the cart, idempotent; the cart's version after. `user_known`
    (the caller's own cart) saves the existence check when there was nothing
    to delete."""
    change = _write(_CLEAR, user_id, if_match, pk_known=user_known, product_id=None)
    if change.changed:
        return change.version
    if (
        not user_known
        and not settings.CART_AUTO_CREATE_USERS
        and not _diagnose(user_id, "").user_exists
    ):
        raise UserNotFound(user_id=user_id)
    return change.version


def _write_item(
    statements: _ItemWrite,
    user_id: str,
    product_id: str,
    quantity: int,
    new_owner: NewOwner | None,
    if_match: Versions,
) -> ItemWrite:
    def write(creator: NewOwner | None = None) -> Change:
        return _write(
            statements.write,
            user_id,
            if_match,
            new_owner=creator,
            product_id=product_id,
            quantity=quantity,
        )

    def refusal() -> CartError | None:
        facts = _diagnose(user_id, product_id)
        return _refusal(facts, quantity, adds=statements.adds)

    change = write(new_owner)
    if not change.changed:
        if error := refusal():
            raise error
        # The cart did not exist (or appeared meanwhile): create what is
        # missing and write again, in one transaction, so that a refused write
        # leaves nothing behind. A new cart is at version 0, as no cart is.
        with transaction.atomic():
            owner_cart_ensure(user_id=user_id, new_owner=new_owner)
            change = write()
            if not change.changed:
                raise refusal() or ItemLimitExceeded(limit=rules.limits().max_items)
    assert change.row is not None  # changed
    _, new_quantity, created, name, price, added_unit_price = change.row
    item = Item(product_id, name, new_quantity, money(price), money(added_unit_price))
    return ItemWrite(item, bool(created), change.version)


def _write(
    write: Write,
    user_id: str,
    if_match: Versions,
    *,
    pk_known: bool = False,
    new_owner: NewOwner | None = None,
    **params: Any,
) -> Change:
    """One write of the cart of the user `user_id`, by its remembered pk if
    any, else by the id (`pk_known`: the pk is the caller's own, just
    authenticated, so not stale; `new_owner`: writing by the id, whom to
    create first if missing, carts.cart.owners.owner_creation); CartInCheckout
    when a live checkout hold kept it from running, PreconditionFailed when
    `if_match` did."""
    user_pk = owner_pk_known(user_id)
    change = _write_once(write, user_id, user_pk, if_match, new_owner, params)
    if change.owner_pk is None and user_pk is not None and not pk_known:
        # A pk gone stale (or a user with no cart row yet): by the id.
        owner_pk_forget(user_id)
        user_pk = owner_pk_known(user_id)  # None, but on Citus
        change = _write_once(write, user_id, user_pk, if_match, new_owner, params)
    if change.owner_pk is not None:
        owner_pk_met(user_id, change.owner_pk)
    if change.held:
        raise CartInCheckout(user_id=user_id)
    if not change.changed:
        _check_precondition(user_id, change.version, if_match)
    return change


def _write_once(
    write: Write,
    user_id: str,
    user_pk: int | None,
    if_match: Versions,
    new_owner: NewOwner | None,
    params: dict[str, Any],
) -> Change:
    # A known pk is an existing user's: nothing to create, nor to prepare
    # (an unusable password, the id's checks) on the hot path.
    creating = None
    if user_pk is None:
        creating = owner_creation(
            user_id=user_id,
            new_owner=new_owner,
            may_create=if_match is None or 0 in if_match,
        )
    return one_write(
        write,
        if_match=if_match,
        creating=creating,
        username=user_id,
        user_pk=user_pk,
        **params,
    )


def _check_precondition(user_id: str, version: int, if_match: Versions) -> None:
    if if_match is not None and version not in if_match:
        raise PreconditionFailed(user_id=user_id, version=version)


def _diagnose(user_id: str, product_id: str) -> _Facts:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.DIAGNOSE_SQL, {"username": user_id, "product_id": product_id}
        )
        return _Facts(user_id, product_id, *cursor.fetchone())


def _refusal(facts: _Facts, quantity: int, *, adds: bool) -> CartError | None:
    """Why an item write changed nothing, if the cart's state explains it; None
    when the user or cart row is missing, or was created since the write."""
    if not facts.cart_exists:
        return None
    if facts.cart_merged:
        return GuestAlreadyMerged(user_id=facts.user_id)
    if not facts.product_exists:
        return ProductNotFound(product_id=facts.product_id)
    try:
        if facts.item_quantity is None:
            rules.check_room_for_item(facts.item_count)
        elif adds:
            rules.check_added_quantity(facts.item_quantity, quantity)
    except CartError as error:
        return error
    return None
