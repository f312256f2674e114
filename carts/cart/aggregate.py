"""The cart aggregate: the rules every change of a cart keeps, stated once.

1. Lock first. A change locks the cart's row (carts_cart) before it reads or
   touches the cart's items, and a change of several carts locks them in the
   order of their ids. So the writers of one cart run one after another (the
   item limit is exact) and no two writers wait for each other in a circle.
2. Record every change, in its transaction: sql.bump gives the cart a new
   version (what its ETag names) and the time of its last change (what
   expiry reads), sql.append_event writes its event to the outbox (what the
   feed and webhooks read: carts.events). Whatever else every change must
   record belongs beside them (sql.record_change and the one-round-trip
   statements) and in `carts_record_change`, which runs them.
3. A held cart does not change: while a checkout holds it (until the hold
   ends or expires), every change is refused with CartInCheckout. The
   one-round-trip statements say it in their WHERE (sql._NOT_HELD); every
   other writer calls `carts_check_not_held` once the carts are locked
   (`cart_change` does).

The one-round-trip writes of carts.cart.items state both rules in SQL
(sql._one_round_trip: lock, change, record; `one_write` runs them); every
other writer (merge, expiry, the admin's forms) calls `carts_lock` and
`carts_record_change`, or `cart_change` for both; expiry deletes a batch of
carts it has locked with `carts_delete`. The database's own writer,
the catalog trigger (migrations), locks and records the same way.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from contextlib import contextmanager
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ..database import thread_connection
from ..database.citus import bound_lock_waits, citus_installed, statement_dialect
from ..domain import rules
from ..domain.errors import CartInCheckout
from ..models import Cart, Checkout
from . import sql

# The cart versions a write accepts (its If-Match); None: any.
Versions = Set[int] | None


def carts_ensure(*, user_pks: Iterable[int]) -> None:
    """A cart row (version 0) for each of these users that has none yet."""
    Cart.objects.bulk_create(
        [Cart(user_id=user_pk) for user_pk in set(user_pks)], ignore_conflicts=True
    )


def carts_lock(*, user_pks: Iterable[int]) -> dict[int, Cart]:
    """Lock these users' cart rows in the order of their ids until the
    transaction ends; the rows as locked, by user pk. A cart without a row
    (never written, or deleted meanwhile) is missing from the answer: creating
    one is the caller's decision (`carts_ensure`), never a side effect."""
    user_pks = sorted(set(user_pks))
    carts = (
        Cart.objects.select_for_update()
        .order_by("user_id")
        # What its ETag names (sql.shown_version), as the statements read it.
        .annotate(shown_version=RawSQL(sql.shown_version("carts_cart"), ()))
    )
    if citus_installed(connection):
        # Citus locks rows on one shard per statement: one cart at a time.
        # A change of several carts then records them in one statement on
        # several workers, and may write a reference table (a merged guest's
        # user) after it: Citus allows that only over one connection per
        # worker, which sequential mode keeps to.
        with connection.cursor() as cursor:
            bound_lock_waits(cursor)
            if len(user_pks) > 1:
                cursor.execute("SET LOCAL citus.multi_shard_modify_mode TO sequential")
        locked = [cart for pk in user_pks for cart in carts.filter(user_id=pk)]
    else:
        locked = list(carts.filter(user_id__in=user_pks))
    return {cart.user_id: cart for cart in locked}


def carts_check_not_held(*, carts: dict[int, Cart]) -> None:
    """CartInCheckout if a live checkout holds one of these carts, which the
    caller has locked (so no hold can begin meanwhile)."""
    held = (
        Checkout.objects.filter(
            user_id__in=carts, state=Checkout.State.HELD, expires_at__gt=timezone.now()
        )
        .values_list("user__username", flat=True)
        .first()
    )
    if held is not None:
        raise CartInCheckout(user_id=held)


def carts_record_change(
    *, user_pks: Iterable[int], event: str, data: Mapping[str, Any] | None = None
) -> None:
    """Record a change of these carts, which the caller has locked: each a
    new version and an `event` (API.md, "Events") with `data`."""
    user_pks = sorted(set(user_pks))
    if not user_pks:
        return
    owners = {f"cart_{index}": user_pk for index, user_pk in enumerate(user_pks)}
    placeholders = ", ".join(f"%({name})s" for name in owners)
    params = {
        "now": sql_now(),
        "event": event,
        "data": json.dumps(data or {}),
        **owners,
    }
    _run_record_change(f"IN ({placeholders})", params)


def carts_delete(
    *,
    user_pks: list[int],
    event: str,
    data: Mapping[str, Any],
    statements: Iterable[str],
) -> None:
    """Delete these carts, which the caller has locked, recording the
    deletion as `event` with `data` (sql.record_deletion), then running
    `statements`, which delete them and whatever refers to them (their
    `{owners}`: the test of a column against the list of pks): in one round
    trip on PostgreSQL."""
    if not user_pks:
        return
    dialect = statement_dialect(connection)
    owners = sql.OWNERS_PARAM[connection.vendor]
    statements = [
        sql.record_deletion(dialect, owners),
        *(statement.format(owners=owners) for statement in statements),
    ]
    params = {"now": sql_now(), "event": event, "data": json.dumps(data)}
    with connection.cursor() as cursor:
        if dialect == "citus":
            # Deletes on several shards, then of reference tables' rows
            # (users, tokens): Citus allows that in one transaction only over
            # one connection per worker, which sequential mode keeps to. A
            # statement of its own (bound_lock_waits says why).
            cursor.execute("SET LOCAL citus.multi_shard_modify_mode TO sequential")
        if connection.vendor == "postgresql":
            cursor.execute(";".join(statements), params | {"owners": user_pks})
        else:
            for statement in statements:
                cursor.execute(statement, params | {"owners": json.dumps(user_pks)})


def _run_record_change(owners: str, params: dict[str, Any]) -> None:
    statements = sql.record_change(statement_dialect(connection), owners)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(";".join(statements), params)  # one round trip
        else:
            for statement in statements:
                cursor.execute(statement, params)


@contextmanager
def cart_change(
    *, user_pks: Iterable[int], event: str, data: Mapping[str, Any] | None = None
) -> Iterator[dict[int, Cart]]:
    """One change of these carts, by a writer outside the one-round-trip
    statements: in one transaction, the carts locked, then the caller's change
    (the block), then the change recorded as `event` with `data`."""
    user_pks = set(user_pks)
    with transaction.atomic():
        carts_ensure(user_pks=user_pks)
        carts = carts_lock(user_pks=user_pks)
        carts_check_not_held(carts=carts)
        yield carts
        carts_record_change(user_pks=user_pks, event=event, data=data)


class Change(NamedTuple):
    """What a one-round-trip write did."""

    version: int  # the cart's, after the write (0: no cart row)
    row: tuple[Any, ...] | None  # the change's first row; None if it changed nothing
    # The pk of the user whose cart the write found; None when the user id's
    # user has no cart (or, given a stale pk, is not that pk's user) and,
    # on PostgreSQL, when the user has no cart row yet.
    owner_pk: int | None
    held: bool = False  # a live checkout hold refused the change

    @property
    def changed(self) -> bool:
        return self.row is not None


class Write(NamedTuple):
    """One of carts/cart/sql.py's writes, for each database."""

    sqlite_sql: str  # the change alone
    postgresql_sql: str  # lock, change, record (its event included)
    event: str  # the type of the event it records
    # SQLite: the event's data from the statement's parameters and the
    # change's rows (on PostgreSQL the statement builds it).
    sqlite_data: Callable[[dict[str, Any], list[tuple[Any, ...]]], dict[str, Any]]
    # Citus: the change alone, when SQLite's cannot run there (an item's
    # write: its row completed by sql.CITUS_PRODUCT_SQL).
    citus_item_sql: str | None = None


def one_write(
    write: Write,
    *,
    if_match: Versions,
    creating: Mapping[str, Any] | None = None,
    **params: Any,
) -> Change:
    """Run one write of carts/cart/sql.py if the cart's version is one of
    `if_match` (None: any): on PostgreSQL the one-round-trip statement (lock,
    change, record); on SQLite, which admits one writer at a time, the change
    and its record in one transaction; on Citus the same, after the lock.
    `creating`: the parameters of sql.OWNER_ENSURE, which then creates the
    user and its cart row first where missing, in the same round trip (on
    PostgreSQL)."""
    wrapper = thread_connection()
    params |= {
        "now": sql_now(wrapper),
        **rules.limits().sql_params(),
        **(creating or {}),
    }
    first = sql.OWNER_ENSURE if creating is not None else []
    dialect = statement_dialect(wrapper)
    with wrapper.cursor() as cursor:
        if dialect == "postgresql":
            cursor.execute(
                ";".join([*first, write.postgresql_sql]),
                params | {"if_match": None if if_match is None else list(if_match)},
            )
            version, owner_pk, held, *row = cursor.fetchone()
            changed = row[0] is not None
            return Change(version, tuple(row) if changed else None, owner_pk, held)
        with transaction.atomic():
            if dialect == "citus":
                bound_lock_waits(cursor)  # the cart's lock is on its worker
            for statement in first:
                cursor.execute(statement, params)
            if dialect == "citus":
                if params["user_pk"] is None:
                    # Citus routes a statement by the pk it is given.
                    cursor.execute(sql.OWNER_PK_SQL, params)
                    found = cursor.fetchone()
                    if found is None:
                        return Change(0, None, None)
                    params["user_pk"] = found[0]
                cursor.execute(sql.CITUS_LOCK_CART, params)
                if not cursor.fetchone()[0]:  # no such user, or no cart row
                    return Change(0, None, None)
            cursor.execute(sql.CART_VERSION_SQL, params)
            found = cursor.fetchone()
            if found is None:
                return Change(0, None, None)
            version, owner_pk = found
            params["user_pk"] = owner_pk
            cursor.execute(sql.HELD_SQL, params)
            if cursor.fetchone()[0]:
                return Change(version, None, owner_pk, held=True)
            if if_match is not None and version not in if_match:
                return Change(version, None, owner_pk)
            if dialect == "citus" and write.citus_item_sql:
                rows = _citus_item_write(cursor, write.citus_item_sql, params)
            else:
                cursor.execute(write.sqlite_sql, params)
                rows = cursor.fetchall()
            if not rows:
                return Change(version, None, owner_pk)
            data = write.sqlite_data(params, rows)
            _run_record_change(
                "= %(user_pk)s",
                params | {"event": write.event, "data": json.dumps(data)},
            )
            cursor.execute(sql.CART_VERSION_SQL, params)
            return Change(cursor.fetchone()[0], rows[0], owner_pk)


def _citus_item_write(
    cursor: Any, statement: str, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """An item's write on Citus, its row as the other databases' RETURNING
    gives it: the product's name, price and the price as added."""
    cursor.execute(statement, params)
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    if not rows:
        return rows
    cursor.execute(sql.CITUS_PRODUCT_SQL, params)
    name, price = cursor.fetchone()
    user_pk, quantity, created, added_unit_price = rows[0]
    if added_unit_price is None:
        added_unit_price = price
    return [(user_pk, quantity, created, name, price, added_unit_price)]


def sql_now(wrapper: Any = connection) -> Any:
    """The service's clock as the statements take it (%(now)s): last
    changes and every hold's expiry compare against it."""
    return wrapper.ops.adapt_datetimefield_value(timezone.now())
