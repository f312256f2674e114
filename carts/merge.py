"""Merging a guest's cart into a shopper's cart at login (API.md, merge)."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import selectors
from .auth.token_cache import invalidate_auth_caches
from .domain import rules
from .domain.cart import Cart as CartContents
from .domain.errors import (
    GuestAlreadyMerged,
    GuestNotFound,
    MergeIntoItself,
    PreconditionFailed,
)
from .models import Cart, CartItem, User
from .owners import NewOwner, owner_cart_ensure
from .services import Versions


@dataclass(frozen=True, slots=True)
class MergeResult:
    plan: rules.MergePlan
    already_merged: bool
    cart: CartContents  # the target cart as it is after the merge


def guest_by_token(key: str) -> User:
    """The guest a token belongs to; GuestNotFound for any other token."""
    user = User.objects.filter(auth_token__key=key, is_guest=True).first()
    if user is None:
        raise GuestNotFound(source="guest_token")
    return user


def guest_by_id(username: str) -> User:
    user = User.objects.filter(username=username, is_guest=True).first()
    if user is None:
        raise GuestNotFound(source="from_user_id")
    return user


def cart_merge(
    *,
    guest: User,
    username: str,
    mode: rules.MergeMode,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> MergeResult:
    """Move the guest's lines into `username`'s cart in one transaction, by the
    cart rules (rules.plan_merge); the guest is then merged and its token
    refused. Repeating it is harmless. A bounded number of queries, whatever
    the carts hold. `if_match`: the target cart versions the caller accepts
    (None: any); another is PreconditionFailed, nothing changed."""
    with transaction.atomic():
        if guest.username == username:
            raise MergeIntoItself()
        target_id = owner_cart_ensure(username=username, new_owner=new_owner)
        owner_cart_ensure(username=guest.username, new_owner=None)
        # Both carts locked, always in the order of their ids, so that two
        # merges (or a merge and an add) can never wait for each other in a
        # circle. Every writer of a cart locks its row first, so the lines read
        # below stay as read until this transaction ends: computing the new
        # quantities in Python is as safe here as an increment in SQL.
        carts = {
            cart.user_id: cart
            for cart in Cart.objects.select_for_update()
            .filter(user_id__in=[guest.pk, target_id])
            .order_by("user_id")
        }
        guest_cart, target_cart = carts[guest.pk], carts[target_id]
        if if_match is not None and target_cart.version not in if_match:
            raise PreconditionFailed(user_id=username, version=target_cart.version)
        if guest_cart.merged_at is not None:
            if guest_cart.merged_into_id == target_id:
                return MergeResult(
                    rules.MergePlan(),
                    already_merged=True,
                    cart=selectors.cart_get(username=username),
                )
            raise GuestAlreadyMerged(user_id=guest.username)
        if target_cart.merged_at is not None:
            raise GuestAlreadyMerged(user_id=username)

        lines = list(
            CartItem.objects.filter(user_id__in=[guest.pk, target_id])
            .order_by("created_at", "id")
            .values_list("user_id", "product_id", "quantity", "product__active")
        )
        plan = rules.plan_merge(
            guest_lines=[line[1:] for line in lines if line[0] == guest.pk],
            target_lines={line[1]: line[2] for line in lines if line[0] == target_id},
            mode=mode,
        )
        now = timezone.now()
        if plan.lines:
            CartItem.objects.bulk_create(
                [
                    CartItem(
                        user_id=target_id, product_id=product_id, quantity=quantity
                    )
                    for product_id, quantity in plan.lines.items()
                ],
                update_conflicts=True,
                unique_fields=["user", "product"],
                update_fields=["quantity", "updated_at"],
            )
            Cart.objects.filter(user_id=target_id).update(
                version=F("version") + 1, updated_at=now
            )
        CartItem.objects.filter(user_id=guest.pk).delete()
        Cart.objects.filter(user_id=guest.pk).update(
            merged_into_id=target_id,
            merged_at=now,
            version=F("version") + 1,
            updated_at=now,
        )
        # The guest's token stops working: an inactive user is refused, and
        # this one UPDATE of carts_user empties the token caches once.
        User.objects.filter(pk=guest.pk).update(is_active=False)
        invalidate_auth_caches()
        # Read in the merge's transaction: the answer shows the merge's result
        # and its version, whatever comes after.
        cart = selectors.cart_get(username=username)
    return MergeResult(plan, already_merged=False, cart=cart)
