"""Merging a guest's cart into a shopper's cart at login (API.md, merge)."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ..auth.token_cache import invalidate_auth_caches
from ..domain import rules
from ..domain.cart import CartContents
from ..domain.errors import (
    GuestAlreadyMerged,
    GuestNotFound,
    MergeIntoItself,
    PreconditionFailed,
)
from ..models import Cart, CartItem, User
from . import reads
from .aggregate import (
    Versions,
    carts_check_not_held,
    carts_lock,
    carts_record_change,
)
from .owners import NewOwner, owner_cart_ensure

# The event a merge records on both carts (API.md, "Events").
MERGED = "cart.merged"


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


def guest_by_id(user_id: str) -> User:
    user = User.objects.filter(username=user_id, is_guest=True).first()
    if user is None:
        raise GuestNotFound(source="from_user_id")
    return user


def cart_merge(
    *,
    guest: User,
    user_id: str,
    mode: rules.MergeMode,
    new_owner: NewOwner | None,
    if_match: Versions = None,
) -> MergeResult:
    """Move the guest's items into `user_id`'s cart in one transaction, by the
    cart rules (rules.plan_merge); the guest is then merged and its token
    refused. Repeating it is harmless. A bounded number of queries, whatever
    the carts hold. `if_match`: the target cart versions the caller accepts
    (None: any); another is PreconditionFailed, nothing changed."""
    with transaction.atomic():
        if guest.username == user_id:
            raise MergeIntoItself()
        target_pk = owner_cart_ensure(user_id=user_id, new_owner=new_owner)
        # Both carts locked (in the order of their ids, by the aggregate), so
        # the items read below stay as read until this transaction ends:
        # computing the new quantities in Python is as safe here as an
        # increment in SQL. The guest's cart is never created here: a guest
        # that expiry deleted meanwhile has none, and is not found.
        carts = carts_lock(user_pks=[guest.pk, target_pk])
        if guest.pk not in carts:
            raise GuestNotFound(source="guest_token")
        guest_cart, target_cart = carts[guest.pk], carts[target_pk]
        shown_version = target_cart.shown_version  # type: ignore[attr-defined]
        if if_match is not None and shown_version not in if_match:
            raise PreconditionFailed(user_id=user_id, version=shown_version)
        if guest_cart.merged_at is not None:
            if guest_cart.merged_into_id == target_pk:
                return MergeResult(
                    rules.MergePlan(),
                    already_merged=True,
                    cart=reads.cart_get(user_id=user_id),
                )
            raise GuestAlreadyMerged(user_id=guest.username)
        if target_cart.merged_at is not None:
            raise GuestAlreadyMerged(user_id=user_id)
        carts_check_not_held(carts=carts)

        items = list(
            CartItem.objects.filter(user_id__in=[guest.pk, target_pk])
            .order_by("created_at", "id")
            .values_list(
                "user_id",
                "product_id",
                "quantity",
                "product__active",
                "added_unit_price",
            )
        )
        # A guest's item keeps its price as added; an item the target has
        # already keeps the target's (update_fields leaves it).
        guest_prices = {item[1]: item[4] for item in items if item[0] == guest.pk}
        plan = rules.plan_merge(
            guest_items=[item[1:4] for item in items if item[0] == guest.pk],
            target_items={item[1]: item[2] for item in items if item[0] == target_pk},
            mode=mode,
        )
        if plan.items:
            CartItem.objects.bulk_create(
                [
                    CartItem(
                        user_id=target_pk,
                        product_id=product_id,
                        quantity=quantity,
                        added_unit_price=guest_prices[product_id],
                    )
                    for product_id, quantity in plan.items.items()
                ],
                update_conflicts=True,
                unique_fields=["user", "product"],
                update_fields=["quantity", "updated_at"],
            )
        CartItem.objects.filter(user_id=guest.pk).delete()
        Cart.objects.filter(user_id=guest.pk).update(
            merged_into_id=target_pk, merged_at=timezone.now()
        )
        carts_record_change(
            user_pks=[guest.pk, *([target_pk] if plan.items else [])],
            event=MERGED,
            data={
                "from": guest.username,
                "to": user_id,
                "merged": plan.merged,
                "clamped": plan.clamped,
                "dropped": plan.dropped,
            },
        )
        # The guest's token stops working: an inactive user is refused, and
        # this one UPDATE of carts_user empties the token caches once.
        User.objects.filter(pk=guest.pk).update(is_active=False)
        invalidate_auth_caches()
        # Read in the merge's transaction: the answer shows the merge's result
        # and its version, whatever comes after.
        cart = reads.cart_get(user_id=user_id)
    return MergeResult(plan, already_merged=False, cart=cart)
