import base64
import secrets
import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.validators import MinLengthValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A shopper, a guest or an operator; the username is the cart's external id."""

    # Set once, when POST /guests (or a gRPC call for an unknown id) creates
    # the user: never updated, so it costs the token cache nothing.
    is_guest = models.BooleanField(
        default=False,
        db_default=False,  # rows inserted by SQL (bench, tools) are shoppers
        help_text="Created for an anonymous session; purged when stale.",
    )


class Product(models.Model):
    id = models.CharField(
        primary_key=True, max_length=64, validators=[MinLengthValidator(1)]
    )
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="product_price_not_negative"
            ),
            models.CheckConstraint(
                condition=~models.Q(id=""), name="product_id_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class CartItem(models.Model):
    """One item of a user's cart: a product and its quantity. Written only by
    the cart core (carts.cart); the admin's forms check the same rules."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="cart_items")
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="cart_items"
    )
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # The product's price when the item was first added (a merge into it or
    # a PUT keeps it); the cart warns when the current price differs. NULL
    # (rows written by SQL outside the service: seeds, the bench) reads as
    # the current price.
    added_unit_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "product"], name="cart_item_one_line_per_product"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="cart_item_quantity_positive"
            ),
        ]
        indexes = [
            # A cart is read as "all lines of one user in add order".
            models.Index(
                fields=["user", "created_at", "id"], name="cart_item_user_added"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.product_id} x {self.quantity}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # An item the admin's forms create is priced as the API's adds price it.
        if self.added_unit_price is None:
            self.added_unit_price = self.product.price
        if not self._state.adding and kwargs.get("update_fields") is None:
            # An item never changes cart (the admin shows its owner read-only):
            # on Citus the owner is the row's shard key, which no UPDATE may
            # set, even to the value it has.
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "user"
            ]
        super().save(*args, **kwargs)


def new_generation() -> int:
    """A cart row's generation: 1 to 2**31 - 1, so that generation and a
    version below 2**32 fit PostgreSQL's bigint together."""
    return 1 + secrets.randbelow(2**31 - 1)


class Cart(models.Model):
    """The cart aggregate: one row per cart, keyed by its owner's id.

    Every write to a cart locks this row first, which serialises the writers of
    one cart (so the line limit is exact), and bumps `version` and
    `updated_at` when it changed something. A change to the name, price or
    state of a product in the cart bumps `version` too (a trigger, migration
    carts 0006), so the version names what GET /cart shows: its ETag. Kept
    apart from `carts_user` so a write never updates the user's row, whose
    changes empty every connection's token cache (carts.auth.token_cache)."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="cart"
    )
    # 0 until the first change: a new cart shows what no cart shows (empty),
    # under the same ETag, so If-Match on a cart not created yet can hold.
    version = models.PositiveBigIntegerField(default=0)
    # Drawn when the row is created, so that a cart deleted (a purged guest)
    # and created again for the same id never repeats an ETag: the ETag names
    # generation and version together (carts.cart.sql.shown_version). 0 for
    # rows created before it and by SQL that names no generation.
    generation = models.PositiveIntegerField(default=new_generation, db_default=0)
    # The feed position of the cart's last event (CartEvent.position): the
    # next one's is at least this, so a cart's events keep their order in the
    # feed even when a later change's transaction began first.
    event_position = models.BigIntegerField(default=0, db_default=0)
    updated_at = models.DateTimeField("last change", default=timezone.now)
    # A guest's cart after a merge: its lines went to `merged_into`'s cart.
    merged_into = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_guest_carts",
    )
    merged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "user"]
        indexes = [
            # purge_carts looks for carts by the age of their last change.
            models.Index(fields=["updated_at"], name="cart_updated_at"),
        ]
        # The API's staff powers (carts.auth.powers): is_staff opens the admin,
        # this lets a user or service account act on any cart.
        permissions = [("manage_any_cart", "Can read and change any cart (API)")]

    def __str__(self) -> str:
        return f"cart of {self.user_id} v{self.version}"


class IdempotencyRecord(models.Model):
    """The answer to a request sent with an Idempotency-Key, kept so that a
    retry gets it again instead of changing the cart twice (carts.api.idempotency).

    Keyed by (caller, key): the caller's own keys, never another's. Stored in
    the transaction of the change it answers; `status` is NULL only inside
    that transaction, so a committed record always holds an answer."""

    caller = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    # SHA-256 of the request (path, query, body): the same key for another
    # request is refused. Only the hash: a merge's body holds a guest's token.
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    # The answer's JSON as rendered first, as text: jsonb would reorder it.
    body = models.TextField(blank=True)
    etag = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["caller", "key"], name="idempotency_record_caller_key"
            ),
        ]
        indexes = [
            # purge_carts deletes records by age.
            models.Index(fields=["created_at"], name="idempotency_record_created"),
        ]

    def __str__(self) -> str:
        return f"{self.caller_id}: {self.key} -> {self.status}"


class Checkout(models.Model):
    """A checkout of a cart: while `held` and before `expires_at`, nothing
    changes the cart (carts.cart.checkout). Past `expires_at` a held checkout
    counts as released, with no process having to run: every check compares
    the time. A completed one keeps its order snapshot until purge_carts
    removes it (CART_COMPLETED_CHECKOUT_TTL)."""

    class State(models.TextChoices):
        HELD = "held"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        EXPIRED = "expired"  # held, and replaced after its expiry by a new one

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="checkouts")
    state = models.CharField(max_length=16, choices=State.choices, default=State.HELD)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # The held items as they will be charged: product id, name, quantity,
    # unit price (a Decimal string), in cart order.
    items = models.JSONField(default=list)
    currency = models.CharField(max_length=3)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live hold per cart; the writes' guard reads it by this index.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state="held"),
                name="checkout_one_held_per_cart",
            ),
        ]
        indexes = [
            # purge_carts deletes completed checkouts by age.
            models.Index(fields=["completed_at"], name="checkout_completed_at"),
        ]

    def __str__(self) -> str:
        return f"checkout {self.id} of {self.user_id}: {self.state}"


class CartEvent(models.Model):
    """The outbox: one row per change of a cart, written in the change's
    transaction by the one statement that records every change
    (carts/cart/sql.py, append_event), so a rolled-back change has no event
    and a committed one always has one. Read by the feed (carts.events) and
    delivered to webhooks; kept CART_EVENT_TTL, then purge_carts removes it.

    Not a foreign key to the user: a purged guest's events outlive it."""

    id = models.BigAutoField(primary_key=True)
    # Where the feed puts it (carts.events.feed): the writing transaction's
    # id (pg_current_xact_id), or the cart's previous event's position if
    # higher (Cart.event_position), then `id`; 0 on SQLite, whose writers
    # commit one at a time in id order.
    position = models.BigIntegerField()
    user_pk = models.BigIntegerField()
    # The API's user id at the time of the change.
    username = models.CharField(max_length=150)
    type = models.CharField(max_length=40)
    # The cart's shown version after the change (what its ETag names).
    cart_version = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["position", "id"], name="cart_event_feed_order"),
            # purge_carts deletes events by age.
            models.Index(fields=["occurred_at"], name="cart_event_occurred_at"),
        ]
        # Who may follow the feed besides the API's staff (carts.auth.powers).
        permissions = [("read_cart_events", "Can follow the cart event feed (API)")]

    def __str__(self) -> str:
        return f"event {self.id}: {self.type} of {self.username} v{self.cart_version}"


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """A receiver of cart events: every event of its types that occurred
    after it was created is POSTed to `url`, signed with `secret` by the
    Standard Webhooks convention (manage.py deliver_events, carts.events)."""

    url = models.URLField("URL", max_length=2000)
    secret = models.CharField(
        max_length=200,
        default=new_webhook_secret,
        help_text="Standard Webhooks secret (whsec_ and base64); the receiver "
        "verifies the signatures with it.",
    )
    # Types of events sent; empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The feed's cursor (carts.events.feed) past the events already queued
    # for this endpoint; empty: none yet.
    cursor = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.description or self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: pending until a 2xx answer (delivered),
    or until CART_WEBHOOK_RETRY_FOR has passed since `queued_at` (dead).

    The foreign keys cascade in the database itself (migration 0014), not
    in Django: a delete of events (purge_carts, by the thousand) is one
    DELETE, and its deliveries and their attempts go with it."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead"

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.DO_NOTHING,
        related_name="deliveries",
        db_constraint=False,
        db_index=False,  # the unique constraint's index leads with it
    )
    event = models.ForeignKey(
        CartEvent,
        on_delete=models.DO_NOTHING,  # the database cascades
        related_name="+",
        db_constraint=False,
    )
    # The event's cart (CartEvent.user_pk): its next event for this endpoint
    # waits until this one is delivered or dead.
    user_pk = models.BigIntegerField()
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due; while one is in flight, when its claim
    # lapses (a process killed mid-send: another one sends it again).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Queued by the fan-out or by an operator's redeliver: retried until
    # CART_WEBHOOK_RETRY_FOR after this.
    queued_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"], name="webhook_delivery_once"
            ),
        ]
        indexes = [
            # The deliverer's claim: an endpoint's due deliveries, and the
            # cart's earlier ones still pending.
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                condition=models.Q(state="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(
                fields=["endpoint", "user_pk", "event"],
                condition=models.Q(state="pending"),
                name="webhook_delivery_cart_queue",
            ),
            models.Index(fields=["state", "queued_at"], name="webhook_delivery_state"),
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} to endpoint {self.endpoint_id}: {self.state}"


class WebhookAttempt(models.Model):
    """One POST of a delivery and its outcome: the answer's status and first
    bytes, or why there was none."""

    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.DO_NOTHING,
        related_name="attempt_records",
        db_constraint=False,
    )
    started_at = models.DateTimeField()
    duration = models.FloatField(help_text="seconds")
    # None: no answer (refused, timed out, ...): `error` says why.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField("answer's first bytes", blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        outcome = self.status_code or self.error
        return f"attempt of delivery {self.delivery_id}: {outcome}"
