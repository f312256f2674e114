"""The event feed (API.md, "Events"): every committed event exactly once, in a
total order, to a reader that follows the cursor.

Events are numbered (`id`) when written, but transactions commit in another
order than they write: a reader asking for `id > 41` may see 42 before 41's
transaction commits, and then never see 41. So the order is the writing
transaction's id first (`position`: PostgreSQL's pg_current_xact_id, or the
cart's previous event's position if higher, so that a cart's events keep their
order), then `id`, and a page holds only events whose position is below the
oldest transaction still running when the page is read
(pg_snapshot_xmin(pg_current_snapshot())): every transaction below it has
ended, and a running one writes no position below its own id, so no event
can appear behind the cursor later. The cost: an event
waits in the outbox until every transaction older than its own has ended
(a long transaction, anywhere in the database, delays the feed; the
database's idle_in_transaction_session_timeout and statement timeouts bound
it). SQLite's writers commit one at a time, in the order of the ids.

On a Citus cluster a transaction id is one node's own; the position is the
distributed transaction number instead, which the coordinator hands out in
one increasing order to every transaction it begins (every write reaches
the workers through it), and the horizon is the lowest number still running
there, or the reader's own (carts_feed_settled(), migration carts 0016). It
is read in a transaction before the events are: a transaction below it that
was not running then had ended, so the events' read, which takes its
snapshot after, sees all its events.

Long polling (`wait`) listens on EVENTS_CHANNEL on a connection of its own,
registered as a waiter: the outbox's trigger notifies at commit only while
one is registered (migration carts 0015), and a waiter reads again at least
every few seconds besides. On Citus the outbox's rows are written on the
workers, where no one listens (0016 drops the trigger): long polls read
again once a second.
"""

import re
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from ..database.citus import citus_installed
from ..domain.cart import rfc3339
from ..domain.errors import InvalidCursor
from ..models import CartEvent

EVENTS_CHANNEL = "carts_events"
MAX_LIMIT = 500
MAX_WAIT = 30
# Long polls hold a server thread each: at most this many per process wait,
# the others answer at once (API.md: `wait` is a wish, not a promise).
MAX_WAITERS = 2
_waiters = threading.BoundedSemaphore(MAX_WAITERS)
# A change that committed while its waiter was registering notified nobody
# (migration carts 0015): the longest a waiter goes without reading again.
_UNHEARD = 5.0
# How soon to look again after a notification whose event is not settled yet.
_SETTLING = 0.05

# Below the oldest running transaction: what can no longer change.
_SETTLED = RawSQL("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", ())


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[CartEvent]
    next: str  # the cursor after the page (the one given when it is empty)


def event_json(event: CartEvent) -> dict[str, Any]:
    """An event as the feed and webhooks send it."""
    return {
        "id": str(event.id),
        "type": event.type,
        "user_id": event.username,
        "cart_version": event.cart_version,
        "occurred_at": rfc3339(event.occurred_at),
        "data": event.data,
    }


def cursor_of(event: CartEvent) -> str:
    return f"{event.position}-{event.id}"


# What `cursor_of` writes: an event's position and id.
CURSOR_PATTERN = r"^[0-9]{1,19}-[0-9]{1,19}$"


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    """(position, event id) after which a page starts; (0, 0) for none
    (the oldest event kept). InvalidCursor for anything else."""
    if cursor is None:
        return (0, 0)
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise InvalidCursor(cursor=cursor)
    position, event_id = cursor.split("-")
    return (int(position), int(event_id))


def events_page(*, after: str | None = None, limit: int, wait: float = 0) -> EventPage:
    """The events after the cursor `after`, at most `limit`; when there are
    none, wait up to `wait` seconds for some."""
    position = parse_cursor(after)
    page = _page(position, after, limit)
    if page.events or wait <= 0:
        return page
    if not _waiters.acquire(blocking=False):
        return page  # enough threads of this process wait already
    try:
        deadline = time.monotonic() + min(wait, MAX_WAIT)
        with _listening() as notified:
            # Read again once listening: an event committed before the LISTEN
            # sent its notification to nobody.
            page = _page(position, after, limit)
            while not page.events and notified(deadline):
                page = _page(position, after, limit)
        return page
    finally:
        _waiters.release()


@contextmanager
def _listening() -> Iterator[Callable[[float], bool]]:
    """A connection of its own LISTENing on EVENTS_CHANNEL: the service's
    database as Django connects to it, or CART_EVENTS_LISTEN_URL (behind a
    transaction pooler a LISTEN would belong to a borrowed server
    connection); yields `notified(deadline)`: whether to read the feed again
    before the monotonic deadline. Without a connection that can listen (SQLite, a
    pooler and no URL) it says yes once a second: a poll, never a hang."""
    if settings.CART_EVENTS_LISTEN_URL:
        listener = psycopg2.connect(settings.CART_EVENTS_LISTEN_URL, connect_timeout=2)
    elif (
        connection.vendor == "postgresql"
        and not settings.DATABASE_TRANSACTION_POOLER
        and not citus_installed(connection)
    ):
        listener = psycopg2.connect(**connection.get_connection_params())
    else:
        yield _every_second
        return
    try:
        listener.autocommit = True
        with listener.cursor() as cursor:
            cursor.execute(f"LISTEN {EVENTS_CHANNEL}")
            # Changes notify only while a waiter is registered (migration
            # carts 0015); a waiter that crashed left its row: gone now.
            cursor.execute(
                "DELETE FROM carts_feed_waiter"
                " WHERE pid NOT IN (SELECT pid FROM pg_stat_activity);"
                " INSERT INTO carts_feed_waiter VALUES (pg_backend_pid())"
                " ON CONFLICT DO NOTHING"
            )

        # An event may have committed while an older transaction still runs:
        # its page stays empty until that one ends, which notifies nobody.
        # After a notification, look again at growing intervals until then.
        settling: float | None = None

        def notified(deadline: float) -> bool:
            nonlocal settling
            if listener.notifies:
                listener.notifies.clear()
                settling = _SETTLING
            elif settling is not None:
                settling = min(settling * 2, 1.0)
            timeout = min(deadline - time.monotonic(), _UNHEARD)
            if settling is not None:
                timeout = min(timeout, settling)
            if timeout <= 0:
                return False
            if select.select([listener], [], [], timeout)[0]:
                listener.poll()
            return time.monotonic() < deadline

        yield notified
        with listener.cursor() as cursor:
            cursor.execute("DELETE FROM carts_feed_waiter WHERE pid = pg_backend_pid()")
    finally:
        listener.close()


def _every_second(deadline: float) -> bool:
    pause = min(1.0, deadline - time.monotonic())
    if pause <= 0:
        return False
    time.sleep(pause)
    return True


def _page(position: tuple[int, int], after: str | None, limit: int) -> EventPage:
    after_position, after_id = position
    events: QuerySet[CartEvent] = CartEvent.objects.filter(
        Q(position__gt=after_position) | Q(position=after_position, id__gt=after_id)
    )
    if citus_installed(connection):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT carts_feed_settled()")
            (settled,) = cursor.fetchall()[0]
        events = events.filter(position__lt=settled)
    elif connection.vendor == "postgresql":
        events = events.filter(position__lt=_SETTLED)
    found = list(events.order_by("position", "id")[:limit])
    return EventPage(found, cursor_of(found[-1]) if found else after or "0-0")
