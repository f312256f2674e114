"""The users who own carts: shoppers known by the shop's own ids, and guests.

Carts exist for any id (API.md, "Carts for any id"): the first write to an
unknown id creates its user and cart row, in the caller's transaction.
"""

import secrets
from enum import Enum

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from ..domain import rules
from ..domain.errors import UserNotFound
from ..models import User
from .aggregate import carts_ensure


class NewOwner(Enum):
    """Whom the first write to an unknown id creates."""

    SHOPPER = "shopper"  # a REST staff write: the shop's own customer id
    GUEST = "guest"  # a gRPC call (an Online Boutique session id): purged when stale


def new_owner_for(*, staff: bool, kind: NewOwner = NewOwner.SHOPPER) -> NewOwner | None:
    """Staff callers create unknown users, unless CART_AUTO_CREATE_USERS is off."""
    return kind if staff and settings.CART_AUTO_CREATE_USERS else None


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
