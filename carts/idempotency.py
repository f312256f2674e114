"""Safe retries (API.md v2, "Safe retries: Idempotency-Key").

A request sent with a key runs once: in one transaction it claims the key
(carts.sql: INSERT ... ON CONFLICT), makes its change and stores its answer.
A repeat waits on the claim until the first commits and gets the stored
answer, or, past the connection's lock_timeout (DATABASE_LOCK_TIMEOUT),
IdempotencyKeyInUse. An error
rolls the claim back with the change: nothing is stored, a retry runs again.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from . import sql
from .domain.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from .models import IdempotencyRecord

# PostgreSQL's "lock_not_available": lock_timeout ran out.
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer as stored: status, JSON body as text ("" for none), ETag."""

    status: int
    body: str
    etag: str


def answer_once(
    *, caller_id: int, key: str, request_hash: str, run: Callable[[], Answer]
) -> tuple[Answer, bool]:
    """`run`'s answer, run at most once per (caller, key) within
    CART_IDEMPOTENCY_TTL: (the answer, whether it is a replay).
    IdempotencyKeyReused when the key was used for another request."""
    with transaction.atomic():
        if not _claim(caller_id, key, request_hash):
            return _stored(caller_id, key, request_hash), True
        answer = run()
        IdempotencyRecord.objects.filter(caller_id=caller_id, key=key).update(
            status=answer.status, body=answer.body, etag=answer.etag
        )
    return answer, False


def _claim(caller_id: int, key: str, request_hash: str) -> bool:
    now = timezone.now()
    params: dict[str, Any] = {
        "caller": caller_id,
        "key": key,
        "request_hash": request_hash,
        "now": connection.ops.adapt_datetimefield_value(now),
        "expired_before": connection.ops.adapt_datetimefield_value(
            now - timedelta(seconds=settings.CART_IDEMPOTENCY_TTL)
        ),
    }
    with connection.cursor() as cursor:
        try:
            cursor.execute(sql.IDEMPOTENCY_CLAIM, params)
        except OperationalError as error:
            if getattr(error.__cause__, "pgcode", None) == _LOCK_NOT_AVAILABLE:
                raise IdempotencyKeyInUse() from None
            raise
        return cursor.fetchone() is not None


def _stored(caller_id: int, key: str, request_hash: str) -> Answer:
    record = (
        IdempotencyRecord.objects.filter(caller_id=caller_id, key=key)
        .values_list("request_hash", "status", "body", "etag")
        .first()
    )
    if record is None:  # purged since the claim saw it: the key is free again
        raise IdempotencyKeyInUse()
    stored_hash, status, body, etag = record
    if stored_hash != request_hash:
        raise IdempotencyKeyReused()
    if status is None:  # claimed, not yet answered: the first is still running
        raise IdempotencyKeyInUse()
    return Answer(status, body, etag)
