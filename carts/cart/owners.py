"""The users who own carts: shoppers known by the shop's own ids, and guests.

Carts exist for any id (API.md, "Carts for any id"): the first write to an
unknown id creates its user and cart row, in the caller's transaction.

The cart statements take the owner's pk when it is known (carts/cart/sql.py
says why); this process remembers the pk of each user id it has met
(`owner_pk_known`). Nothing has to forget an entry when a user is renamed or
deleted: the statements check that the pk's user still has the id and find
nothing otherwise, and the callers then forget it and write or read again by
the id (`owner_pk_forget`).
"""

import secrets
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import IntegrityError, connection, transaction
from rest_framework.authtoken.models import Token

from ..database.citus import citus_installed
from ..domain import rules
from ..domain.errors import InvalidUserId, UserNotFound
from ..models import User, new_generation
from . import sql
from .aggregate import carts_ensure

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
    """Remember a user's pk (an authenticated request's own user, a
    statement's answer)."""
    if len(_OWNER_PKS) >= OWNER_PKS_SIZE and user_id not in _OWNER_PKS:
        _OWNER_PKS.clear()
    _OWNER_PKS[user_id] = user_pk


def owner_pk_known(user_id: str) -> int | None:
    """The pk remembered for the user id; None: not met yet (the statements
    then find the user by its id). On Citus, which routes a statement by the
    pk it is given (one it finds by the id would send it to every shard), a
    pk not remembered is looked up (None: no such user)."""
    user_pk = _OWNER_PKS.get(user_id)
    if user_pk is None and citus_installed(connection):
        with connection.cursor() as cursor:
            cursor.execute(sql.OWNER_PK_SQL, {"username": user_id})
            found = cursor.fetchone()
        if found is not None:
            user_pk = found[0]
            owner_pk_met(user_id, user_pk)
    return user_pk


def owner_pk_forget(user_id: str) -> None:
    """The statements found no user `user_id` at its remembered pk."""
    _OWNER_PKS.pop(user_id, None)


def owner_creation(
    *, user_id: str, new_owner: NewOwner | None, may_create: bool
) -> dict[str, Any] | None:
    """The parameters of sql.OWNER_ENSURE for a write that creates the user
    `user_id` as `new_owner` when missing; None when nothing may be created:
    no new owner, an If-Match that does not accept an empty cart
    (`may_create` false), or an id no user may have (the write's slow path
    then says why)."""
    if new_owner is None or not may_create or not _may_be_created(user_id):
        return None
    return {
        "password": _unusable_password(),
        "is_guest": new_owner is NewOwner.GUEST,
        "generation": new_generation(),
    }


def _unusable_password() -> str:
    """What make_password(None) stores, for a fraction of its cost: one read
    of the OS's random source instead of one per character (40), which took
    about a tenth of a staff add's CPU in a profile (bench/README.md)."""
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30)


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
