"""The users who own carts: shoppers known by the shop's own ids, and guests.

Carts exist for any id (API.md, "Carts for any id"): the first write to an
unknown id creates its user and cart row, in the caller's transaction.
"""

import secrets
from collections.abc import Iterable
from enum import Enum

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from .domain import rules
from .domain.errors import UserNotFound
from .models import Cart, User


class NewOwner(Enum):
    """Whom the first write to an unknown id creates."""

    SHOPPER = "shopper"  # a REST staff write: the shop's own customer id
    GUEST = "guest"  # a gRPC call (an Online Boutique session id): purged when stale


def new_owner_for(*, staff: bool, kind: NewOwner = NewOwner.SHOPPER) -> NewOwner | None:
    """Staff callers create unknown users, unless CART_AUTO_CREATE_USERS is off."""
    return kind if staff and settings.CART_AUTO_CREATE_USERS else None


def owner_cart_ensure(*, username: str, new_owner: NewOwner | None) -> int:
    """The id of `username`, created as `new_owner` if unknown, with a cart row.
    Call inside a transaction with the write it prepares."""
    user_id = (
        User.objects.filter(username=username).values_list("pk", flat=True).first()
    )
    if user_id is None:
        if new_owner is None:
            raise UserNotFound(user_id=username)
        rules.check_user_id(username)
        user_id = _user_create(username, guest=new_owner is NewOwner.GUEST)
    carts_ensure(user_ids=[user_id])
    return user_id


def carts_ensure(*, user_ids: Iterable[int]) -> None:
    """A cart row (version 0) for each of these users that has none yet."""
    Cart.objects.bulk_create(
        [Cart(user_id=user_id) for user_id in set(user_ids)], ignore_conflicts=True
    )


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
        user_id = _user_create(username, guest=True)
        Cart.objects.create(user_id=user_id)
        token = Token.objects.create(user_id=user_id)
    return username, token.key
