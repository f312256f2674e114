"""Safe retries (API.md v2, "Safe retries: Idempotency-Key"): the header's
syntax, what makes two requests the same, and answers stored and replayed.

A request sent with a key runs once: in one transaction it claims the key
(carts/api/sql.py: INSERT ... ON CONFLICT), makes its change and stores its
answer. A repeat waits on the claim until the first commits and gets the
stored answer, or, past the connection's lock_timeout (DATABASE_LOCK_TIMEOUT),
IdempotencyKeyInUse. An error rolls the claim back with the change: nothing is
stored, a retry runs again.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from ..database.citus import bound_lock_waits, citus_installed
from ..domain.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from ..models import IdempotencyRecord
from . import sql

_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]{1,255}")
# An sf-string (RFC 8941): printable ASCII in quotes, \" and \\ escaped.
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_SF_ESCAPE = re.compile(r'\\(["\\])')


def idempotency_key(request: Request) -> str | None:
    """The request's key: 1-255 visible ASCII characters, or, when it begins
    with a double quote, an sf-string of 1-255 characters whose value is the
    key ("abc" and abc are one key); None without the header;
    InvalidIdempotencyKey otherwise."""
    header = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if header is None:
        return None
    header = header.strip(" \t")
    if header.startswith('"'):
        quoted = _SF_STRING.fullmatch(header)
        key = _SF_ESCAPE.sub(r"\1", quoted[1]) if quoted else ""
    else:
        key = header if _VISIBLE_ASCII.fullmatch(header) else ""
    if not 1 <= len(key) <= 255:
        raise InvalidIdempotencyKey()
    return key


def request_hash(request: Request) -> str:
    """What makes a repeat the same request: the path (with or without its
    trailing slash), the query and the body as JSON values (so spacing and
    member order do not count)."""
    request_text = json.dumps(
        [
            request.path_info.rstrip("/"),
            sorted(request.query_params.lists()),
            request.data,
        ],
        sort_keys=True,
        separators=(",", ":"),
        cls=JSONEncoder,
    )
    return hashlib.sha256(request_text.encode()).hexdigest()


def respond_once(request: Request, respond: Callable[[], Response]) -> Response:
    """`respond()`'s answer; with an Idempotency-Key, the answer stored for
    the caller's key, run only if there is none (and then stored, in the
    transaction of its change). A replay says `Idempotent-Replayed: true`."""
    key = idempotency_key(request)
    if key is None:
        return respond()

    def run() -> Answer:
        response = respond()
        body = (
            "" if response.data is None else json.dumps(response.data, cls=JSONEncoder)
        )
        return Answer(response.status_code, body, response.headers.get("ETag", ""))

    answer, replayed = answer_once(
        caller_id=request.user.pk,  # type: ignore[arg-type]  # authenticated: saved
        key=key,
        request_hash=request_hash(request),
        run=run,
    )
    headers = {"ETag": answer.etag} if answer.etag else {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    data = json.loads(answer.body) if answer.body else None
    return Response(data, status=answer.status, headers=headers)


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
        if citus_installed(connection):
            # The claim waits on the worker holding the record.
            bound_lock_waits(cursor)
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
