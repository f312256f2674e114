"""Checkout: a cart held while a payment is taken, then completed (its held
items leave the cart, an order snapshot stays) or cancelled; and reprice,
which accepts the current prices (API.md, "Checkout").

Every step locks the cart's row first (carts.cart.aggregate), so the steps of
one cart, and every change of it, run one after another: twenty concurrent
completes of one checkout make one snapshot, and each answers it. A hold
past its expires_at counts as released wherever it is read; nothing has to
run to end it.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from ..domain.cart import CartContents, Hold, Item, money
from ..domain.errors import (
    CartEmpty,
    CheckoutAlreadyHeld,
    CheckoutCancelled,
    CheckoutCompleted,
    CheckoutExpired,
    CheckoutNotFound,
    GuestAlreadyMerged,
    PreconditionFailed,
    UserNotFound,
)
from ..models import Cart, CartItem, Checkout, Product, User
from . import reads
from .aggregate import (
    Versions,
    carts_check_not_held,
    carts_lock,
    carts_record_change,
)

# The events its changes record (API.md, "Events").
CHECKOUT_HELD = "cart.checkout_held"
CHECKOUT_COMPLETED = "cart.checkout_completed"
CHECKOUT_RELEASED = "cart.checkout_released"
REPRICED = "cart.repriced"


@dataclass(frozen=True, slots=True)
class CheckoutSnapshot:
    """A completed checkout: the items as charged."""

    checkout_id: UUID
    completed_at: datetime
    items: list[Item]
    currency: str

    @property
    def subtotal(self) -> Decimal:
        return sum((item.line_total for item in self.items), Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class Completion:
    snapshot: CheckoutSnapshot
    already_completed: bool


def checkout_hold(*, user_id: str, if_match: Versions = None) -> CartContents:
    """Hold the cart's available items for CART_CHECKOUT_TTL: the cart as
    held (its `hold` set). CheckoutAlreadyHeld while a live hold exists,
    CartEmpty with nothing available to check out."""
    with transaction.atomic():
        user_pk = _user_pk(user_id)
        if user_pk is None:
            if not settings.CART_AUTO_CREATE_USERS:
                raise UserNotFound(user_id=user_id)
            raise CartEmpty(user_id=user_id)
        cart = _locked_cart(user_id, user_pk, if_match)
        if cart is None:
            raise CartEmpty(user_id=user_id)
        if cart.merged_at is not None:
            raise GuestAlreadyMerged(user_id=user_id)
        now = timezone.now()
        held = Checkout.objects.filter(user_id=user_pk, state=Checkout.State.HELD)
        live = held.filter(expires_at__gt=now).first()
        if live is not None:
            raise CheckoutAlreadyHeld(
                user_id=user_id,
                checkout_id=live.id,
                expires_at=live.expires_at.isoformat(),
            )
        # An expired hold gives way, so the one-held-per-cart index admits this.
        expire_holds(held)
        items = reads.cart_get(user_id=user_id).available_items
        if not items:
            raise CartEmpty(user_id=user_id)
        checkout = Checkout.objects.create(
            user_id=user_pk,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.CART_CHECKOUT_TTL),
            items=[_item_json(item) for item in items],
            currency=settings.CART_CURRENCY,
        )
        carts_record_change(
            user_pks=[user_pk],
            event=CHECKOUT_HELD,
            data={
                "checkout_id": str(checkout.id),
                "expires_at": checkout.expires_at.isoformat(),
            },
        )
        # The hold as made, even one that a TTL of 0 has expired already.
        return replace(
            reads.cart_get(user_id=user_id),
            hold=Hold(checkout.id, checkout.expires_at),
        )


def checkout_complete(*, user_id: str, checkout_id: str) -> Completion:
    """Remove exactly the held items from the cart and end the hold: the
    order snapshot. A completed checkout answers its snapshot again."""
    with transaction.atomic():
        checkout = _locked_checkout(user_id, checkout_id)
        if checkout.state == Checkout.State.COMPLETED:
            return Completion(_snapshot(checkout), already_completed=True)
        if checkout.state == Checkout.State.CANCELLED:
            raise CheckoutCancelled(checkout_id=checkout.id)
        now = timezone.now()
        if checkout.state == Checkout.State.EXPIRED or checkout.expires_at <= now:
            raise CheckoutExpired(
                checkout_id=checkout.id, expires_at=checkout.expires_at.isoformat()
            )
        CartItem.objects.filter(
            user_id=checkout.user_id,
            product_id__in=[item["product_id"] for item in checkout.items],
        ).delete()
        checkout.state = Checkout.State.COMPLETED
        checkout.completed_at = now
        _save_state(checkout, "completed_at")
        carts_record_change(
            user_pks=[checkout.user_id],
            event=CHECKOUT_COMPLETED,
            data={"checkout_id": str(checkout.id)},
        )
        return Completion(_snapshot(checkout), already_completed=False)


def checkout_cancel(*, user_id: str, checkout_id: str) -> CartContents:
    """Release the hold (again: no change); the cart. CheckoutCompleted for a
    completed checkout."""
    with transaction.atomic():
        checkout = _locked_checkout(user_id, checkout_id)
        if checkout.state == Checkout.State.COMPLETED:
            raise CheckoutCompleted(checkout_id=checkout.id)
        if checkout.state == Checkout.State.HELD:
            _release(checkout)
        return reads.cart_get(user_id=user_id)


def checkout_release(*, user_pk: int) -> bool:
    """The admin's release: cancel the cart's live hold, if any; whether one
    was released."""
    with transaction.atomic():
        carts_lock(user_pks=[user_pk])
        checkout = Checkout.objects.filter(
            user_id=user_pk,
            state=Checkout.State.HELD,
            expires_at__gt=timezone.now(),
        ).first()
        if checkout is None:
            return False
        _release(checkout)
        return True


def checkout_snapshot(*, checkout_id: str) -> CheckoutSnapshot:
    """A completed checkout's snapshot, for staff; CheckoutNotFound else."""
    checkout_uuid = _checkout_uuid(checkout_id)
    completed = Checkout.objects.filter(state=Checkout.State.COMPLETED)
    checkout = (
        None if checkout_uuid is None else completed.filter(pk=checkout_uuid).first()
    )
    if checkout is None:
        raise CheckoutNotFound(checkout_id=checkout_id)
    return _snapshot(checkout)


def cart_reprice(*, user_id: str, if_match: Versions = None) -> CartContents:
    """Accept the current prices: every item's price as added becomes the
    catalog's, the change recorded; the cart."""
    with transaction.atomic():
        user_pk = _user_pk(user_id)
        if user_pk is None:
            if not settings.CART_AUTO_CREATE_USERS:
                raise UserNotFound(user_id=user_id)
            return reads.cart_get(user_id=user_id)
        carts = carts_lock(user_pks=[user_pk])
        cart = _checked_cart(user_id, carts.get(user_pk), if_match)
        if cart is None:
            return reads.cart_get(user_id=user_id)
        carts_check_not_held(carts=carts)
        CartItem.objects.filter(user_id=user_pk).update(
            added_unit_price=Subquery(
                Product.objects.filter(pk=OuterRef("product_id")).values("price")[:1]
            )
        )
        carts_record_change(user_pks=[user_pk], event=REPRICED)
        return reads.cart_get(user_id=user_id)


def _user_pk(user_id: str) -> int | None:
    return User.objects.filter(username=user_id).values_list("pk", flat=True).first()


def _locked_cart(user_id: str, user_pk: int, if_match: Versions) -> Cart | None:
    return _checked_cart(user_id, carts_lock(user_pks=[user_pk]).get(user_pk), if_match)


def _checked_cart(user_id: str, cart: Cart | None, if_match: Versions) -> Cart | None:
    """The locked cart (None: no row, version 0), if `if_match` accepts it."""
    version = 0 if cart is None else cart.shown_version  # type: ignore[attr-defined]
    if if_match is not None and version not in if_match:
        raise PreconditionFailed(user_id=user_id, version=version)
    return cart


def _checkout_uuid(checkout_id: str) -> UUID | None:
    try:
        return UUID(checkout_id)
    except ValueError:
        return None


def _locked_checkout(user_id: str, checkout_id: str) -> Checkout:
    """The user's checkout `checkout_id`, its cart locked."""
    checkout_uuid = _checkout_uuid(checkout_id)
    user_pk = _user_pk(user_id)
    if checkout_uuid is None or user_pk is None:
        raise CheckoutNotFound(checkout_id=checkout_id)
    carts_lock(user_pks=[user_pk])
    checkout = Checkout.objects.filter(pk=checkout_uuid, user_id=user_pk).first()
    if checkout is None:
        raise CheckoutNotFound(checkout_id=checkout_id)
    return checkout


def _save_state(checkout: Checkout, *fields: str) -> None:
    """Store the checkout's state (and `fields`), found by its cart too: a
    sharded database routes the UPDATE to the cart's shard (docs/scaling.md)."""
    Checkout.objects.filter(pk=checkout.pk, user_id=checkout.user_id).update(
        state=checkout.state, **{field: getattr(checkout, field) for field in fields}
    )


def _release(checkout: Checkout) -> None:
    checkout.state = Checkout.State.CANCELLED
    _save_state(checkout)
    carts_record_change(
        user_pks=[checkout.user_id],
        event=CHECKOUT_RELEASED,
        data={"checkout_id": str(checkout.id), "reason": "cancelled"},
    )


def expire_holds(held: QuerySet[Checkout]) -> int:
    """Mark these holds, past their expiry, as expired: each a
    cart.checkout_released event, so the feed hears of the release that
    already counts. Their carts are locked."""
    expired = list(
        held.filter(expires_at__lte=timezone.now()).values_list("pk", "user_id")
    )
    Checkout.objects.filter(pk__in=[pk for pk, _ in expired]).update(
        state=Checkout.State.EXPIRED
    )
    for checkout_id, user_pk in expired:
        carts_record_change(
            user_pks=[user_pk],
            event=CHECKOUT_RELEASED,
            data={"checkout_id": str(checkout_id), "reason": "expired"},
        )
    return len(expired)


def _item_json(item: Item) -> dict[str, object]:
    return {
        "product_id": item.product_id,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price": str(item.unit_price),
    }


def _snapshot(checkout: Checkout) -> CheckoutSnapshot:
    assert checkout.completed_at is not None
    return CheckoutSnapshot(
        checkout.id,
        checkout.completed_at,
        [
            Item(
                item["product_id"],
                item["name"],
                item["quantity"],
                money(item["unit_price"]),
                money(item["unit_price"]),
            )
            for item in checkout.items
        ],
        checkout.currency,
    )
