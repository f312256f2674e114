"""Webhook deliveries in the database: the fan-out of new events to each
endpoint, the claim of due deliveries, the record of each attempt.

Fan-out: each endpoint follows the feed (carts.events.feed) with a cursor of
its own, kept on its row. A process fans out to an endpoint while holding
that row's lock (FOR UPDATE SKIP LOCKED: another process skips it), and
queues the page's deliveries and moves the cursor in one transaction, so
every event is queued once for each endpoint whatever the number of
processes; the unique (endpoint, event) makes that a rule of the database.

Claim: a process takes an endpoint's due deliveries with FOR UPDATE SKIP
LOCKED and moves their `next_attempt_at` past the time their POST can take
(`claim_seconds`) in the same short transaction: no transaction stays open
during a POST, two processes never take the same delivery, and a delivery
whose process died mid-send is due again once its claim lapses (at least
once; same event, same `webhook-id`). Only the first pending delivery of
each cart is due: a cart's next event waits until the one before it (in the
order of the events' ids, drawn under the cart's lock: the order of its
changes) is delivered or dead."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, OuterRef, QuerySet, Subquery
from django.utils import timezone

from ..models import CartEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .feed import events_page
from .sending import Outcome

PENDING = WebhookDelivery.State.PENDING
# Events read from the feed per transaction of the fan-out.
FAN_OUT_PAGE = 500


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one attempt."""

    delivery_id: int
    event: CartEvent


def claim_seconds() -> int:
    """How long a claimed delivery is kept from other processes: longer than
    its POST can take (a connect and reads of CART_WEBHOOK_TIMEOUT each)."""
    return 3 * settings.CART_WEBHOOK_TIMEOUT + 2


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones:
    exponential, with jitter (between half and all of the step)."""
    step: int = settings.CART_WEBHOOK_RETRY_BASE * 2 ** min(attempts - 1, 32)
    return min(step, settings.CART_WEBHOOK_RETRY_MAX) * random.uniform(0.5, 1.0)


def endpoint_wants(endpoint: WebhookEndpoint, event: CartEvent) -> bool:
    """Events of its types that occurred since it was created."""
    if event.occurred_at < endpoint.created_at:
        return False
    return not endpoint.event_types or event.type in endpoint.event_types


def deliveries_fan_out(*, endpoint_id: int) -> int:
    """Queue the endpoint's events not queued yet, once whatever the number
    of processes (0 when another process holds it); how many were queued."""
    queued = 0
    while True:
        with transaction.atomic():
            endpoint = (
                WebhookEndpoint.objects.select_for_update(skip_locked=True)
                .filter(pk=endpoint_id, active=True)
                .first()
            )
            if endpoint is None:
                return queued
            page = events_page(after=endpoint.cursor or None, limit=FAN_OUT_PAGE)
            if not page.events:
                return queued
            now = timezone.now()
            deliveries = [
                WebhookDelivery(
                    endpoint=endpoint,
                    event_id=event.id,
                    user_pk=event.user_pk,
                    next_attempt_at=now,
                    queued_at=now,
                )
                for event in page.events
                if endpoint_wants(endpoint, event)
            ]
            WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            endpoint.cursor = page.next
            endpoint.save(update_fields=["cursor"])
            queued += len(deliveries)
        if len(page.events) < FAN_OUT_PAGE:
            return queued


def deliveries_claim(*, endpoint_id: int, limit: int) -> list[Claimed]:
    """Take up to `limit` due deliveries of the endpoint, each the first
    pending one of its cart, for one attempt each."""
    now = timezone.now()
    # The cart's first pending delivery, as a subquery the planner cannot
    # turn into a join: a NOT EXISTS of an earlier one was planned as a
    # nested loop over the whole queue when the table's statistics were
    # still those of an empty one (a burst of 20,000 deliveries took more
    # than the statement timeout; bench/events.py).
    first_of_cart = (
        WebhookDelivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"),
            user_pk=OuterRef("user_pk"),
            state=PENDING,
        )
        .order_by("event_id")
        .values("event_id")[:1]
    )
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.filter(
                endpoint_id=endpoint_id,
                state=PENDING,
                next_attempt_at__lte=now,
                event_id=Subquery(first_of_cart),
            )
            .order_by("event_id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if not due:
            return []
        WebhookDelivery.objects.filter(pk__in=due).update(
            next_attempt_at=now + timedelta(seconds=claim_seconds())
        )
        claimed = WebhookDelivery.objects.filter(pk__in=due).select_related("event")
        return [Claimed(d.pk, d.event) for d in claimed.order_by("event_id")]


def deliveries_record(*, outcomes: dict[int, Outcome]) -> dict[int, str]:
    """Record each delivery's attempt (`outcomes`: by delivery id) and what
    follows: delivered, a retry after the backoff (the last one at the end
    of the window), or dead. The state each is in after it; a delivery
    whose event was purged meanwhile is left out."""
    now = timezone.now()
    retry_for = timedelta(seconds=settings.CART_WEBHOOK_RETRY_FOR)
    with transaction.atomic():
        deliveries = list(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=outcomes)
            .order_by("pk")
        )
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery=delivery,
                started_at=outcome.started_at,
                duration=outcome.duration,
                status_code=outcome.status_code,
                response=outcome.response,
                error=outcome.error,
            )
            for delivery in deliveries
            for outcome in [outcomes[delivery.pk]]
        )
        for delivery in deliveries:
            delivery.attempts += 1
            if outcomes[delivery.pk].delivered:
                delivery.state = WebhookDelivery.State.DELIVERED
                delivery.finished_at = now
            elif now >= delivery.queued_at + retry_for:
                delivery.state, delivery.finished_at = WebhookDelivery.State.DEAD, now
            else:
                next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
                delivery.next_attempt_at = min(next_at, delivery.queued_at + retry_for)
        WebhookDelivery.objects.bulk_update(
            deliveries, ["attempts", "state", "finished_at", "next_attempt_at"]
        )
    return {delivery.pk: delivery.state for delivery in deliveries}


def deliveries_redeliver(*, deliveries: QuerySet[WebhookDelivery]) -> int:
    """Queue the deliveries again, now, with a new retry window; how many."""
    now = timezone.now()
    return deliveries.update(
        state=PENDING, next_attempt_at=now, queued_at=now, finished_at=None
    )


def oldest_undelivered(*, now: datetime) -> dict[int, float]:
    """Per active endpoint, the age in seconds of the oldest event queued
    for it and not delivered yet (0: none)."""
    ages = {pk: 0.0 for pk in active_endpoint_ids()}
    oldest = (
        WebhookDelivery.objects.filter(state=PENDING, endpoint_id__in=ages)
        .values("endpoint_id")
        .annotate(occurred_at=Min(F("event__occurred_at")))
        .order_by()
    )
    for row in oldest:
        ages[row["endpoint_id"]] = (now - row["occurred_at"]).total_seconds()
    return ages


def active_endpoint_ids() -> list[int]:
    return list(
        WebhookEndpoint.objects.filter(active=True).values_list("pk", flat=True)
    )
