"""STAND-IN for the lead's feed (issue 21, item 2), written against the
interface the webhooks use; the lead's carts/events/feed.py replaces it at
merge.

Events in the order (transaction_id, id), read only below the oldest running
transaction (pg_snapshot_xmin), so a reader following the cursor sees every
committed event once."""

from dataclasses import dataclass
from typing import Any

from django.db import connection

from ..models import CartEvent


@dataclass(frozen=True)
class EventPage:
    events: list[CartEvent]
    next: str


def events_page(*, after: str | None, limit: int) -> EventPage:
    """The events after the cursor `after` (from the oldest when None)."""
    transaction_id, event_id = (int(part) for part in (after or "0.0").split("."))
    events = CartEvent.objects.order_by("transaction_id", "id")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            (xmin,) = cursor.fetchone()
        events = events.filter(transaction_id__lt=int(xmin))
    page = list(
        events.filter(transaction_id__gte=transaction_id).exclude(
            transaction_id=transaction_id, id__lte=event_id
        )[:limit]
    )
    last = page[-1] if page else None
    cursor_next = f"{last.transaction_id}.{last.id}" if last else (after or "0.0")
    return EventPage(page, cursor_next)


def event_json(event: CartEvent) -> dict[str, Any]:
    """The wire form of an event."""
    return {
        "id": str(event.id),
        "type": event.type,
        "user_id": event.username,
        "cart_version": event.cart_version,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
