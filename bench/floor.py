"""The floor: the cart's add and read with no framework, as a yardstick.

A bare WSGI callable for `POST /cart/<user>` and `GET /cart/<user>` that runs
exactly the service's statements (imported from carts/sql.py, which has no
Django import) on one persistent psycopg2 connection per worker thread, and
answers the same JSON. It checks the body as strictly as the service but does
not authenticate: the service's token check is part of what it costs.

    gunicorn --pythonpath bench floor:application   (from the project folder)

Environment: DATABASE_URL, CART_CURRENCY, CART_MAX_LINE_QUANTITY,
CART_MAX_LINES (the service's variables, the same defaults).
"""

import json
import os
import threading
from datetime import UTC, datetime
from decimal import Decimal

import psycopg2

from carts import sql

CURRENCY = os.environ.get("CART_CURRENCY", "USD")
MAX_QUANTITY = int(os.environ.get("CART_MAX_LINE_QUANTITY") or 1000)
MAX_LINES = int(os.environ.get("CART_MAX_LINES") or 100)
CENT = Decimal("0.01")
JSON = [("Content-Type", "application/json")]

_local = threading.local()


def _cursor():
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        connection = psycopg2.connect(os.environ["DATABASE_URL"])
        connection.autocommit = True  # one statement, one transaction
        _local.connection = connection
    return connection.cursor()


def _line(product_id, name, quantity, price) -> dict:
    price = price.quantize(CENT)
    return {
        "product_id": product_id,
        "name": name,
        "quantity": quantity,
        "unit_price": str(price),
        "line_total": str(price * quantity),
    }


def _add(username: str, body: bytes):
    try:
        data = json.loads(body)
    except ValueError:
        return "400 Bad Request", {"error": "parse_error"}
    if not isinstance(data, dict) or set(data) - {"product_id", "quantity"}:
        return "400 Bad Request", {"error": "invalid"}
    product_id, quantity = data.get("product_id"), data.get("quantity", 1)
    if not isinstance(product_id, str) or not 1 <= len(product_id) <= 64:
        return "400 Bad Request", {"error": "invalid product_id"}
    if type(quantity) is not int or quantity < 1:
        return "400 Bad Request", {"error": "invalid quantity"}
    if quantity > MAX_QUANTITY:
        return "409 Conflict", {"error": "quantity_limit_exceeded"}
    params = {
        "username": username,
        "product_id": product_id,
        "quantity": quantity,
        "now": datetime.now(UTC),
        "max_lines": MAX_LINES,
        "max_quantity": MAX_QUANTITY,
    }
    with _cursor() as cursor:
        cursor.execute(sql.ADD_SQL, params)
        row = cursor.fetchone()
    if row is None:  # the service spends a query on saying why; the floor won't
        return "409 Conflict", {"error": "refused"}
    _, new_quantity, created, name, price, _ = row
    status = "201 Created" if created else "200 OK"
    return status, _line(product_id, name, new_quantity, price)


def _get(username: str):
    with _cursor() as cursor:
        cursor.execute(sql.CART_SQL, {"username": username})
        rows = cursor.fetchall()
    if not rows:
        return "404 Not Found", {"error": "user_not_found"}
    items = [_line(*row[:4]) for row in rows if row[0] is not None]
    subtotal = sum((Decimal(item["line_total"]) for item in items), Decimal("0.00"))
    return "200 OK", {
        "user_id": username,
        "items": items,
        "total_quantity": sum(item["quantity"] for item in items),
        "subtotal": str(subtotal),
        "currency": CURRENCY,
    }


def application(environ, start_response):
    parts = environ["PATH_INFO"].strip("/").split("/")
    method = environ["REQUEST_METHOD"]
    if len(parts) != 2 or parts[0] != "cart" or not parts[1]:
        status, payload = "404 Not Found", {"error": "not_found"}
    elif method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        status, payload = _add(parts[1], environ["wsgi.input"].read(length))
    elif method == "GET":
        status, payload = _get(parts[1])
    else:
        status, payload = "405 Method Not Allowed", {"error": "method_not_allowed"}
    body = json.dumps(payload).encode()
    start_response(status, [*JSON, ("Content-Length", str(len(body)))])
    return [body]
