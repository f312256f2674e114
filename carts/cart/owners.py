"""The users who own carts: shoppers known by the shop's own ids, and guests.

Carts exist for any id (API.md, "Carts for any id"): the first write to an
unknown id creates its user and cart row, in the caller's transaction.

The cart statements take the owner's pk (carts/cart/sql.py says why); this
process remembers the pk of each user id it has met (`owner_pk`). Nothing
has to forget an entry when a user is renamed or deleted: the statements
check that the pk's user still has the id and find nothing otherwise, and
the callers then look the id up again (`owner_pk_again`).
"""

import secrets
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from rest_framework.authtoken.models import Token

from ..domain import rules
from ..domain.errors import InvalidUserId, UserNotFound
from ..models import User, new_generation
from . import sql
from .aggregate import carts_ensure, sql_now

# user id -> pk. Emptied when full: the ids in use come back at once, at
# one lookup each.
_OWNER_PKS: dict[str, int] = {}
OWNER_PKS_SIZE = 65_536


class NewOwner(Enum):
    """Whom the first write to an unknown id creates."""

    SHOPPER = "shopper"  # a REST staff write: the shop's own customer id
    GUEST = "guest"  # a gRPC call (an Online Boutique session id): purged when stale


def new_owner_for(*, staff: bool, kind: NewOwner = NewOwner.SHOPPER) -> NewOwner | None:
    """Staff callers create unknown users, unless CART_AUTO_CREATE_USERS is off."""
    return kind if staff and settings.CART_AUTO_CREATE_USERS else None


def owner_pk_met(user_id: str, user_pk: int) -> None:
    """Remember a user's pk (an authenticated request's own user, a lookup)."""
    if len(_OWNER_PKS) >= OWNER_PKS_SIZE and user_id not in _OWNER_PKS:
        _OWNER_PKS.clear()
    _OWNER_PKS[user_id] = user_pk


def owner_pk(user_id: str) -> int | None:
    """The pk of the user `user_id`, remembered or looked up (one query);
    None: no such user."""
    user_pk = _OWNER_PKS.get(user_id)
    return user_pk if user_pk is not None else _owner_pk_lookup(user_id)


def owner_pk_again(user_id: str, user_pk: int | None) -> int | None:
    """The statements found no user `user_id` at `user_pk`: its pk looked up
    anew if that is another (a remembered pk gone stale), else None."""
    if user_pk is None:
        return None
    _OWNER_PKS.pop(user_id, None)
    found = _owner_pk_lookup(user_id)
    return found if found != user_pk else None


def _owner_pk_lookup(user_id: str) -> int | None:
    user_pk = User.objects.filter(username=user_id).values_list("pk", flat=True).first()
    if user_pk is not None:
        owner_pk_met(user_id, user_pk)
    return user_pk


def owner_pk_for_write(
    *, user_id: str, new_owner: NewOwner | None, product_id: str, may_create: bool
) -> int | None:
    """The pk of the user `user_id` before a write of `product_id`; for a
    user id not remembered that the caller may create (`new_owner`), the user
    and its cart row are created first when missing and the write can
    succeed on an empty cart (`may_create`: If-Match accepts version 0; the
    product sold), in one round trip (sql.OWNER_ENSURE). None: no such user,
    and none created (the write's slow path says why)."""
    user_pk = _OWNER_PKS.get(user_id)
    if user_pk is not None:
        return user_pk
    if new_owner is None or not _may_be_created(user_id):
        return _owner_pk_lookup(user_id)
    params: dict[str, Any] = {
        "username": user_id,
        "product_id": product_id,
        "may_create": may_create,
        "password": make_password(None),
        "is_guest": new_owner is NewOwner.GUEST,
        "generation": new_generation(),
        "now": sql_now(),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(";".join(sql.OWNER_ENSURE), params)  # one round trip
            row = cursor.fetchone()
        else:
            with transaction.atomic():
                for statement in sql.OWNER_ENSURE:
                    cursor.execute(statement, params)
                row = cursor.fetchone()
    if row is None:
        return None
    owner_pk_met(user_id, row[0])
    return int(row[0])


def _may_be_created(user_id: str) -> bool:
    try:
        rules.check_user_id(user_id)
    except InvalidUserId:
        return False
    return True


def owner_cart_ensure(*, user_id: str, new_owner: NewOwner | None) -> int:
    """The pk of the user `user_id`, created as `new_owner` if unknown, with a
    cart row. Call inside a transaction with the write it prepares."""
    user_pk = User.objects.filter(username=user_id).values_list("pk", flat=True).first()
    if user_pk is None:
        if new_owner is None:
            raise UserNotFound(user_id=user_id)
        rules.check_user_id(user_id)
        user_pk = _user_create(user_id, guest=new_owner is NewOwner.GUEST)
    carts_ensure(user_pks=[user_pk])
    owner_pk_met(user_id, user_pk)
    return user_pk


def _user_create(username: str, *, guest: bool) -> int:
    """A user with no usable password; a concurrent creation of the same
    username wins and its id is returned."""
    user = User(username=username, is_guest=guest)
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:
        return User.objects.values_list("pk", flat=True).get(username=username)
    return user.pk


def guest_create() -> tuple[str, str]:
    """A new guest with its cart and an owner token: (user id, token key)."""
    username = f"guest-{secrets.token_hex(16)}"
    with transaction.atomic():
        user_pk = _user_create(username, guest=True)
        carts_ensure(user_pks=[user_pk])
        token = Token.objects.create(user_id=user_pk)
    return username, token.key
