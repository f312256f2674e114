"""Expiry (API.md, "Expiry"): stale guests deleted, stale shoppers' carts
emptied, expired holds marked released, expired idempotency records, old
checkouts and old events deleted.

Each batch is one transaction that locks the carts it takes with SKIP LOCKED
and re-reads their last change under the lock: a cart that a request is
writing is skipped, and one written since the batch was chosen no longer
matches, so a cart written during the purge is never purged.
"""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ..auth.token_cache import invalidate_auth_caches
from ..database.citus import citus_installed
from ..models import (
    Cart,
    CartEvent,
    CartItem,
    Checkout,
    IdempotencyRecord,
    WebhookDelivery,
)
from .aggregate import carts_delete, carts_record_change
from .checkout import expire_holds

# The event a cart's expiry records (API.md, "Events").
EXPIRED = "cart.expired"

# Every row with a key to a batch of guests, then the guests (carts_delete
# runs them in one round trip). Raw SQL because Django's cascade cannot take
# its fast path here (the token cache's post_delete receivers,
# carts.auth.authentication): it loads every guest and token into Python,
# signals each and deletes the tokens by key, which held the purge under load
# to about half this rate (bench/README.md, "Scale"). The token cache still
# hears of it: the triggers of migrations carts 0002 and 0010 NOTIFY at
# commit, and _delete_owners empties this process's caches. One statement per
# table with a foreign key to carts_user (tests/test_purge.py compares them
# with the database's); `owners`: the vendor's test for a user id in the
# batch (sql.OWNERS_PARAM).
_DELETE_OWNERS = [
    "DELETE FROM carts_cartitem WHERE user_id {owners}",
    "DELETE FROM authtoken_token WHERE user_id {owners}",
    "DELETE FROM carts_idempotencyrecord WHERE caller_id {owners}",
    "DELETE FROM carts_checkout WHERE user_id {owners}",
    "DELETE FROM django_admin_log WHERE user_id {owners}",
    "DELETE FROM carts_user_groups WHERE user_id {owners}",
    "DELETE FROM carts_user_user_permissions WHERE user_id {owners}",
    # Carts merged into a purged guest keep their own rows (SET_NULL).
    "UPDATE carts_cart SET merged_into_id = NULL WHERE merged_into_id {owners}",
    "DELETE FROM carts_cart WHERE user_id {owners}",
    "DELETE FROM carts_user WHERE id {owners}",
]


@dataclass(frozen=True)
class PurgeReport:
    guests: int
    merged_guests: int
    shopper_carts: int
    idempotency_records: int
    released_holds: int
    checkouts: int
    events: int


def stale_carts(now: datetime | None = None) -> dict[str, QuerySet[Cart]]:
    """The carts each rule expires, by rule."""
    now = now or timezone.now()
    # A cart held for checkout is not expired under its payment (a TTL shorter
    # than CART_CHECKOUT_TTL would otherwise reach it).
    live_hold = Checkout.objects.filter(
        user=OuterRef("user"), state=Checkout.State.HELD, expires_at__gt=now
    )
    guests = Cart.objects.filter(~Exists(live_hold), user__is_guest=True)
    rules = {
        "guests": guests.filter(
            merged_at__isnull=True,
            updated_at__lt=now - timedelta(seconds=settings.CART_GUEST_TTL),
        ),
        "merged_guests": guests.filter(
            merged_at__lt=now - timedelta(seconds=settings.CART_MERGED_GUEST_TTL)
        ),
        "shopper_carts": Cart.objects.none(),
    }
    if settings.CART_USER_CART_TTL:
        rules["shopper_carts"] = Cart.objects.filter(
            Exists(CartItem.objects.filter(user=OuterRef("user"))),
            ~Exists(live_hold),
            ~Q(user__is_guest=True),
            updated_at__lt=now - timedelta(seconds=settings.CART_USER_CART_TTL),
        )
    return rules


def expired_idempotency_records(
    now: datetime | None = None,
) -> QuerySet[IdempotencyRecord]:
    """Stored answers past CART_IDEMPOTENCY_TTL: their keys are free again."""
    now = now or timezone.now()
    return IdempotencyRecord.objects.filter(
        created_at__lt=now - timedelta(seconds=settings.CART_IDEMPOTENCY_TTL)
    )


def old_checkouts(now: datetime | None = None) -> QuerySet[Checkout]:
    """Completed checkouts (their order snapshots) older than
    CART_COMPLETED_CHECKOUT_TTL, and holds that ended unfinished as long ago.
    A checkout is no part of its cart's items: deleting one changes no cart."""
    cut = (now or timezone.now()) - timedelta(
        seconds=settings.CART_COMPLETED_CHECKOUT_TTL
    )
    return Checkout.objects.filter(
        Q(completed_at__lt=cut) | Q(completed_at__isnull=True, expires_at__lt=cut)
    )


def carts_purge(
    *, batch_size: int = 500, pause: float = 0.0, jobs: int = 1, dry_run: bool = False
) -> PurgeReport:
    """Apply every expiry rule in batches, `pause` seconds between two batches
    of carts (room for the live load), `jobs` batches of carts at once on
    PostgreSQL; with dry_run, only count."""
    counts = {
        "idempotency_records": _delete_records(batch_size, dry_run),
        # Before the old checkouts go: a hold's release is an event.
        "released_holds": _release_holds(batch_size, pause, dry_run),
        "checkouts": _delete_checkouts(batch_size, dry_run),
        "events": _delete_events(batch_size, dry_run),
    }
    for rule, carts in stale_carts().items():
        if dry_run:
            counts[rule] = carts.count()
        else:
            expire = _empty_carts if rule == "shopper_carts" else _delete_owners
            counts[rule] = _expire_in_jobs(carts, expire, batch_size, pause, jobs)
    return PurgeReport(**counts)


def _expire_in_jobs(
    carts: QuerySet[Cart],
    expire: Callable[[list[int]], int],
    batch_size: int,
    pause: float,
    jobs: int,
) -> int:
    """Expire the carts in batches, `jobs` batches at once, each job on a
    connection of its own: under a live load that keeps every core busy, one
    job gets a small share of the machine and spends most of its time
    waiting for its turn (bench/README.md, "Scale"). The jobs' batches never
    overlap (SKIP LOCKED). SQLite lets one writer in at a time: one job."""
    if jobs == 1 or connection.vendor != "postgresql":
        return _expire_batches(carts, expire, batch_size, pause)
    with ThreadPoolExecutor(jobs, thread_name_prefix="purge") as pool:
        expired = [
            pool.submit(_expire_batches, carts, expire, batch_size, pause, own=True)
            for _ in range(jobs)
        ]
        return sum(job.result() for job in expired)


def _expire_batches(
    carts: QuerySet[Cart],
    expire: Callable[[list[int]], int],
    batch_size: int,
    pause: float,
    own: bool = False,
) -> int:
    """`own`: on a thread of its own, whose connection closes at the end."""
    try:
        return sum(expire(batch) for batch in _locked_batches(carts, batch_size, pause))
    finally:
        if own:
            connection.close()


def _delete_records(batch_size: int, dry_run: bool) -> int:
    """Expired records, a batch per statement; a record a request is taking
    over is not expired any more, and stays."""
    records = expired_idempotency_records()
    if dry_run:
        return records.count()
    deleted = 0
    while True:
        batch = list(records.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return deleted
        deleted += expired_idempotency_records().filter(pk__in=batch).delete()[0]


def _delete_checkouts(batch_size: int, dry_run: bool) -> int:
    checkouts = old_checkouts()
    if dry_run:
        return checkouts.count()
    deleted = 0
    while batch := list(checkouts.values_list("pk", flat=True)[:batch_size]):
        deleted += Checkout.objects.filter(pk__in=batch).delete()[0]
    return deleted


def expired_holds(now: datetime | None = None) -> QuerySet[Checkout]:
    """Holds past their expiry still marked held: released already (nothing
    changes their carts), but not yet told to the feed."""
    return Checkout.objects.filter(
        state=Checkout.State.HELD, expires_at__lte=now or timezone.now()
    )


def old_events(now: datetime | None = None) -> QuerySet[CartEvent]:
    """Events older than CART_EVENT_TTL, delivered or not."""
    cut = (now or timezone.now()) - timedelta(seconds=settings.CART_EVENT_TTL)
    return CartEvent.objects.filter(occurred_at__lt=cut)


def _release_holds(batch_size: int, pause: float, dry_run: bool) -> int:
    """Each batch's carts locked (SKIP LOCKED: a cart being written waits
    for the next purge), then their expired holds marked released."""
    if dry_run:
        return expired_holds().count()
    carts = Cart.objects.filter(Exists(expired_holds().filter(user=OuterRef("user"))))
    return sum(
        expire_holds(expired_holds().filter(user_id__in=batch))
        for batch in _locked_batches(carts, batch_size, pause)
    )


def _delete_events(batch_size: int, dry_run: bool) -> int:
    if dry_run:
        return old_events().count()
    deleted = 0
    while batch := list(old_events().values_list("pk", flat=True)[:batch_size]):
        deleted += len(batch)
        with transaction.atomic():
            # Their deliveries first: on Citus no foreign key cascades from a
            # coordinator's table to a distributed one (docs/scaling.md).
            WebhookDelivery.objects.filter(event_id__in=batch).delete()
            CartEvent.objects.filter(pk__in=batch).delete()
    return deleted


def _locked_batches(
    carts: QuerySet[Cart], batch_size: int, pause: float = 0.0
) -> Iterator[list[int]]:
    """Owner pks of matching carts, a batch at a time, each batch locked in a
    transaction of its own while the caller expires it, then `pause` seconds
    with no lock held. Expiry takes only the carts nobody is writing (SKIP
    LOCKED), so it cannot use the aggregate's waiting lock; it locks in the
    order of their last change, and never waits for a lock, so it cannot
    close a circle of waits."""
    skipped: set[int] = set()
    while True:
        with transaction.atomic():
            if citus_installed(connection):
                batch = _lock_shard_by_shard(carts, batch_size, skipped)
            else:
                batch = list(
                    carts.select_for_update(skip_locked=True, of=("self",))
                    .order_by("updated_at")
                    .values_list("user_id", flat=True)[:batch_size]
                )
            if not batch:
                return
            yield batch
        time.sleep(pause)


def _lock_shard_by_shard(
    carts: QuerySet[Cart], batch_size: int, skipped: set[int]
) -> list[int]:
    """_locked_batches on Citus, which refuses a multi-shard SELECT ... FOR
    UPDATE: the batch's candidates read without a lock, then each locked by
    a statement of its own on its shard (SKIP LOCKED, its rule checked again
    under the lock). A cart skipped (being written) stays skipped for the
    rest of this purge, as SKIP LOCKED passes it on PostgreSQL."""
    while candidates := list(
        carts.exclude(user_id__in=skipped)
        .order_by("updated_at")
        .values_list("user_id", flat=True)[:batch_size]
    ):
        locked = [
            user_pk
            for user_pk in candidates
            if list(
                carts.filter(user_id=user_pk)
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("user_id", flat=True)
            )
        ]
        skipped.update(set(candidates) - set(locked))
        if locked:
            return locked
    return []


def _delete_owners(user_pks: list[int]) -> int:
    """Guests go with their items, tokens and cart (_DELETE_OWNERS), each
    cart's deletion recorded: one round trip, one NOTIFY per batch. Their
    events stay (CartEvent holds no key to them)."""
    carts_delete(
        user_pks=user_pks,
        event=EXPIRED,
        data={"deleted": True},
        statements=_DELETE_OWNERS,
    )
    invalidate_auth_caches()
    return len(user_pks)


def _empty_carts(user_pks: list[int]) -> int:
    CartItem.objects.filter(user_id__in=user_pks).delete()
    carts_record_change(user_pks=user_pks, event=EXPIRED, data={"deleted": False})
    return len(user_pks)
