"""The Idempotency-Key header (API.md v2, "Safe retries"): its syntax, what
makes two requests the same, and answers as stored and replayed
(carts.idempotency runs them once)."""

import hashlib
import json
import re
from collections.abc import Callable

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from .. import idempotency
from ..domain.errors import InvalidIdempotencyKey

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

    def run() -> idempotency.Answer:
        response = respond()
        body = (
            "" if response.data is None else json.dumps(response.data, cls=JSONEncoder)
        )
        return idempotency.Answer(
            response.status_code, body, response.headers.get("ETag", "")
        )

    answer, replayed = idempotency.answer_once(
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
