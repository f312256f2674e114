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
(carts.cart.owners): a user id met for the first time costs the service's
lookup first (for an add, sql.OWNER_ENSURE, which also gives a user without
a cart row its row). An add to a user whose cart row went away goes the
service's way too: the add that changes nothing, the query that says why,
then the cart's row (the ORM's statement, written out here) and the add
again in one transaction.

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
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

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
        "added_unit_price": str(added_price.quantize(CENT)),
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
        params["user_pk"] = _owner_pk_for_write(cursor, params)
        if params["user_pk"] is None:
            return "409 Conflict", {"error": "refused"}, None
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
    row = _add_line(cursor, params)
    if row[3] is None:  # no line written
        # The service's path (carts.cart.items._write_item): ask why; a user
        # with no cart row yet gets one, and the add again, in one
        # transaction. Otherwise the floor says no more than no, and creates
        # no user.
        cursor.execute(sql.DIAGNOSE_SQL, params)
        user_exists, cart_exists = cursor.fetchone()[:2]
        if user_exists and not cart_exists:
            row = _cart_create_and_add(cursor, params)
    (
        version,
        _locked,
        _held,
        user_id,
        new_quantity,
        created,
        name,
        price,
        added_price,
    ) = row
    if user_id is None:
        return "409 Conflict", {"error": "refused"}, None
    status = "201 Created" if created else "200 OK"
    line = _line(params["product_id"], name, new_quantity, price, added_price)
    return status, line, _etag(params["username"], version)


def _add_line(cursor, params) -> tuple:
    cursor.execute(sql.ADD_SQL, params)
    return cursor.fetchone()


# The ORM's statements in carts.cart.owners, as Django sends them.
USER_ID = """SELECT "carts_user"."id" AS "pk" FROM "carts_user"
  WHERE "carts_user"."username" = %(username)s ORDER BY 1 ASC LIMIT 1"""
CART_CREATE = """INSERT INTO "carts_cart"
  ("user_id", "version", "updated_at", "merged_into_id", "merged_at")
  VALUES (%(user_id)s, 0, %(now)s, NULL, NULL) ON CONFLICT DO NOTHING"""


def _cart_create_and_add(cursor, params) -> tuple:
    # In the transaction of an Idempotency-Key's claim already: a savepoint,
    # as Django's nested atomic block takes.
    if cursor.connection.get_transaction_status() == TRANSACTION_STATUS_IDLE:
        begin, end = "BEGIN", "COMMIT"
    else:
        begin, end = "SAVEPOINT cart", "RELEASE SAVEPOINT cart"
    cursor.execute(begin)
    try:
        cursor.execute(CART_CREATE, params | {"user_id": params["user_pk"]})
        return _add_line(cursor, params)
    finally:
        cursor.execute(end)


def _owner_pk_for_write(cursor, params) -> int | None:
    """carts.cart.owners.owner_pk_for_write for a staff caller."""
    user_pk = _owner_pks.get(params["username"])
    if user_pk is None:
        cursor.execute(
            ";".join(sql.OWNER_ENSURE),
            params
            | {
                "may_create": True,
                "password": "!" + secrets.token_urlsafe(30),
                "is_guest": False,
                "generation": 1 + secrets.randbelow(2**31 - 1),
            },
        )
        user_pk = _owner_pk_met(params["username"], cursor.fetchone())
    return user_pk


def _owner_pk(cursor, username: str) -> int | None:
    """carts.cart.owners.owner_pk."""
    user_pk = _owner_pks.get(username)
    if user_pk is None:
        cursor.execute(USER_ID, {"username": username})
        user_pk = _owner_pk_met(username, cursor.fetchone())
    return user_pk


def _owner_pk_met(username: str, row: tuple | None) -> int | None:
    if row is None:
        return None
    _owner_pks[username] = row[0]
    return row[0]


def _get(username: str, known: str | None):
    with _cursor() as cursor:
        params = {"username": username, "user_pk": _owner_pk(cursor, username)}
        if params["user_pk"] is None:
            return "404 Not Found", {"error": "user_not_found"}, None
        if known is not None:
            cursor.execute(sql.CART_VERSION_SQL, params)
            row = cursor.fetchone()
            etag = _etag(username, row[0] if row else 0)
            if known == etag:
                return "304 Not Modified", None, etag
        cursor.execute(sql.CART_SQL, params | {"now": datetime.now(UTC)})
        rows = cursor.fetchall()
    if not rows:
        return "404 Not Found", {"error": "user_not_found"}, None
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
        _etag(username, rows[0][-1]),
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
