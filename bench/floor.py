"""The floor: the cart's add and read with no framework, as a yardstick.

A bare WSGI callable for `POST /cart/<user>` and `GET /cart/<user>` that runs
exactly the service's statements (imported from carts/cart/sql.py and
carts/api/sql.py, which have no Django import; its limits from
carts/domain/limits.py) on one persistent psycopg2 connection per worker thread, and
answers the same JSON and ETag (carts.api.conditional.entity_tag, which needs
no Django either). It checks the body as strictly as the service but does
not authenticate: the service's token check is part of what it costs. With an
Idempotency-Key, an add claims the key, adds and stores its answer in one
transaction, as the service does; a GET whose If-None-Match is the cart's
ETag reads the version alone and answers 304. The statements take the
user's pk, which each worker process remembers as the service does
(carts.cart.owners); an add to a user id not met yet sends sql.OWNER_ENSURE
in front of the add, as the service does for its staff callers, which gives
a user without a cart row its row in the same round trip.

    gunicorn --pythonpath bench floor:application   (from the project folder)

Environment: DATABASE_URL, DJANGO_SECRET_KEY, CART_CURRENCY,
CART_MAX_LINE_QUANTITY, CART_MAX_LINES (the service's variables, the same
defaults).
"""

import json
import os
import secrets
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg2

from carts.api import sql as api_sql
from carts.api.conditional import entity_tag
from carts.cart import sql
from carts.domain.limits import Limits

CURRENCY = os.environ.get("CART_CURRENCY", "USD")
LIMITS = Limits.from_environment()
SECRET = os.environ["DJANGO_SECRET_KEY"]
TTL = timedelta(hours=24)
CENT = Decimal("0.01")
JSON = [("Content-Type", "application/json")]

_local = threading.local()
# user id -> pk, as the service remembers them (carts.cart.owners).
_owner_pks: dict[str, int] = {}


def _cursor():
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        connection = psycopg2.connect(os.environ["DATABASE_URL"])
        connection.autocommit = True  # one statement, one transaction
        _local.connection = connection
        with connection.cursor() as cursor:
            # The floor does not authenticate: its keys are the staff's.
            cursor.execute("SELECT min(id) FROM carts_user WHERE is_staff")
            _local.caller = cursor.fetchone()[0]
    return connection.cursor()


def _line(product_id, name, quantity, price, added_price, available=True) -> dict:
    price = price.quantize(CENT)
    return {
        "product_id": product_id,
        "name": name,
        "quantity": quantity,
        "unit_price": str(price),
        "line_total": str(price * quantity),
        # CART_SQL leaves the price as added out where it is the current one.
        "added_unit_price": str(
            price if added_price is None else added_price.quantize(CENT)
        ),
        "available": available,
    }


def _etag(username: str, version: int) -> str:
    return entity_tag(
        secret=SECRET, currency=CURRENCY, username=username, version=version
    )


def _add(username: str, body: bytes, key: str | None):
    try:
        data = json.loads(body)
    except ValueError:
        return "400 Bad Request", {"error": "parse_error"}, None
    if not isinstance(data, dict) or set(data) - {"product_id", "quantity"}:
        return "400 Bad Request", {"error": "invalid"}, None
    product_id, quantity = data.get("product_id"), data.get("quantity", 1)
    if not isinstance(product_id, str) or not 1 <= len(product_id) <= 64:
        return "400 Bad Request", {"error": "invalid product_id"}, None
    if type(quantity) is not int or quantity < 1:
        return "400 Bad Request", {"error": "invalid quantity"}, None
    if quantity > LIMITS.max_item_quantity:
        return "409 Conflict", {"error": "quantity_limit_exceeded"}, None
    now = datetime.now(UTC)
    params = {
        "username": username,
        "product_id": product_id,
        "quantity": quantity,
        "now": now,
        **LIMITS.sql_params(),
        "if_match": None,
    }
    with _cursor() as cursor:
        if key is None:
            return _answer_add(cursor, params)
        claim = {
            "caller": _local.caller,
            "key": key,
            "request_hash": json.dumps([username, data], sort_keys=True),
            "now": now,
            "expired_before": now - TTL,
        }
        cursor.execute("BEGIN")
        try:
            cursor.execute(api_sql.IDEMPOTENCY_CLAIM, claim)
            if cursor.fetchone() is None:  # a live record holds the key
                cursor.execute(
                    "SELECT status, body, etag FROM carts_idempotencyrecord"
                    " WHERE caller_id = %(caller)s AND key = %(key)s",
                    claim,
                )
                status, stored, etag = cursor.fetchone()
                return f"{status} Stored", json.loads(stored), etag
            status, payload, etag = _answer_add(cursor, params)
            cursor.execute(
                "UPDATE carts_idempotencyrecord"
                " SET status = %(status)s, body = %(body)s, etag = %(etag)s"
                " WHERE caller_id = %(caller)s AND key = %(key)s",
                claim
                | {"status": status[:3], "body": json.dumps(payload), "etag": etag},
            )
        finally:
            cursor.execute("COMMIT")
        return status, payload, etag


def _answer_add(cursor, params):
    user_pk = _owner_pks.get(params["username"])
    statements = [sql.ADD_SQL]
    if user_pk is None:  # the service's creating write (carts.cart.owners)
        statements[:0] = sql.OWNER_ENSURE
        params = params | {
            "password": "!" + secrets.token_urlsafe(30),
            "is_guest": False,
            "generation": 1 + secrets.randbelow(2**31 - 1),
        }
    cursor.execute(";".join(statements), params | {"user_pk": user_pk})
    version, owner_pk, _held, user_id, new_quantity, created, name, price, added = (
        cursor.fetchone()
    )
    if user_id is None:
        return "409 Conflict", {"error": "refused"}, None
    _owner_pks[params["username"]] = owner_pk
    status = "201 Created" if created else "200 OK"
    line = _line(params["product_id"], name, new_quantity, price, added)
    return status, line, _etag(params["username"], version)


def _get(username: str, known: str | None):
    with _cursor() as cursor:
        params = {"username": username, "user_pk": _owner_pks.get(username)}
        if known is not None:
            cursor.execute(sql.CART_VERSION_SQL, params)
            row = cursor.fetchone()
            if row:
                _owner_pks[username] = row[1]
            etag = _etag(username, row[0] if row else 0)
            if known == etag:
                return "304 Not Modified", None, etag
        cursor.execute(sql.CART_SQL, params)
        rows = cursor.fetchall()
    if not rows:
        return "404 Not Found", {"error": "user_not_found"}, None
    _owner_pks[username] = rows[0][-1]
    items = [_line(*row[:6]) for row in rows if row[0] is not None]
    available = [item for item in items if item["available"]]
    subtotal = sum((Decimal(item["line_total"]) for item in available), Decimal("0.00"))
    return (
        "200 OK",
        {
            "user_id": username,
            "items": items,
            "total_quantity": sum(item["quantity"] for item in available),
            "subtotal": str(subtotal),
            "currency": CURRENCY,
            "warnings": [
                {
                    "code": "price_changed",
                    "product_id": item["product_id"],
                    "added_unit_price": item["added_unit_price"],
                    "unit_price": item["unit_price"],
                }
                for item in items
                if item["added_unit_price"] != item["unit_price"]
            ],
            "checkout": None if rows[0][6] is None else {"id": str(rows[0][6])},
        },
        _etag(username, rows[0][-2]),
    )


def application(environ, start_response):
    parts = environ["PATH_INFO"].strip("/").split("/")
    method = environ["REQUEST_METHOD"]
    etag = None
    if len(parts) != 2 or parts[0] != "cart" or not parts[1]:
        status, payload = "404 Not Found", {"error": "not_found"}
    elif method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        status, payload, etag = _add(
            parts[1],
            environ["wsgi.input"].read(length),
            environ.get("HTTP_IDEMPOTENCY_KEY"),
        )
    elif method == "GET":
        status, payload, etag = _get(parts[1], environ.get("HTTP_IF_NONE_MATCH"))
    else:
        status, payload = "405 Method Not Allowed", {"error": "method_not_allowed"}
    headers = [("ETag", etag)] if etag else []
    if payload is None:
        start_response(status, headers)
        return []
    body = json.dumps(payload).encode()
    start_response(status, [*JSON, *headers, ("Content-Length", str(len(body)))])
    return [body]
