"""The plans of the hot statements at the scale benchmark's largest point:
EXPLAIN (ANALYZE, BUFFERS) of the very text the service runs, each in a
transaction rolled back, so that a write explained changes nothing.

The cart statements come from carts/cart/sql.py and carts/api/sql.py, the
token lookup from carts/auth/authentication.py; purge_carts' statements are
caught as Django sends them while one batch is expired (and rolled back) in
this process, each round trip of several statements split into them.
"""

import os
import re
import sys
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from servers import ROOT

# A sequential scan of these is what a missing index looks like (the catalog
# and the empty group and permission tables are small enough to scan).
WATCHED = re.compile(
    r"Seq Scan on (carts_user|carts_cart|carts_cartitem|carts_checkout"
    r"|carts_idempotencyrecord|authtoken_token)\b"
)


@dataclass
class Plan:
    curve: str
    statement: str
    text: str

    @property
    def sequential_scans(self) -> list[str]:
        return sorted(set(WATCHED.findall(self.text)))

    @property
    def milliseconds(self) -> float:
        found = re.search(r"Execution Time: ([\d.]+) ms", self.text)
        return float(found[1]) if found else 0.0


TOKEN = re.compile(r"\b[0-9a-f]{40}\b")


def explain(cursor, curve: str, statement: str, text: str, params=None) -> Plan:
    cursor.execute("BEGIN")
    try:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        cursor.execute("ROLLBACK")
    # Loaded users' tokens are not for publishing (tests/test_production_settings).
    return Plan(curve, statement, TOKEN.sub("<token>", plan))


def cart_plans(connection, *, username: str, product_id: str) -> list[Plan]:
    """get, get-304, add (its statements in order, in one transaction as the
    service sends them, with the user's pk as a warm process remembers it)
    and add-key's claim, for one loaded cart."""
    sys.path.insert(0, str(ROOT))
    from carts.api.sql import IDEMPOTENCY_CLAIM
    from carts.cart.sql import ADD_SQL, CART_SQL, CART_VERSION_SQL

    now = datetime.now(UTC)
    params = {
        "username": username,
        "product_id": product_id,
        "quantity": 1,
        "now": now,
        "if_match": None,
        "max_lines": 100,
        "max_quantity": 1000,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM carts_user WHERE username = %s", [username])
        params["user_pk"] = cursor.fetchone()[0]
        plans = [
            explain(cursor, "get", "CART_SQL", CART_SQL, params),
            explain(cursor, "get-304", "CART_VERSION_SQL", CART_VERSION_SQL, params),
        ]
        add_steps = [step for step in ADD_SQL.split(";") if step.strip()]
        cursor.execute("BEGIN")
        try:
            for number, step in enumerate(add_steps, 1):
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {step}", params)
                plans.append(
                    Plan(
                        "add",
                        f"ADD_SQL, statement {number} of {len(add_steps)}",
                        "\n".join(row[0] for row in cursor.fetchall()),
                    )
                )
        finally:
            cursor.execute("ROLLBACK")
        claim = {
            "caller": 1,
            "key": "explained",
            "request_hash": "0" * 64,
            "now": now,
            "expired_before": now,
        }
        plans.append(
            explain(cursor, "add-key", "IDEMPOTENCY_CLAIM", IDEMPOTENCY_CLAIM, claim)
        )
    return plans


def django_plans(env: dict, *, token: str) -> list[Plan]:
    """The token lookup, and the statements of one purge_carts batch of
    stale guests (caught while it runs, then rolled back)."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "cartproject.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from carts.auth.authentication import _TOKEN_USER_SQL
    from carts.cart import expiry

    with CaptureQueriesContext(connection) as caught:
        batches = cast(
            "Generator[list[int]]",
            expiry._locked_batches(expiry.stale_carts()["guests"], 500),
        )
        expiry._delete_owners(next(batches))
        # Closed inside its transaction: the batch's changes are rolled back.
        batches.close()
    with connection.cursor() as cursor:
        plans = [
            explain(cursor, "token", "_TOKEN_USER_SQL", _TOKEN_USER_SQL, {"key": token})
        ]
        seen = set()
        for query in caught.captured_queries:
            # Neither the purge's statements nor their values hold a ";".
            for statement in filter(str.strip, query["sql"].split(";")):
                text = " ".join(statement.split())
                # A batch's ids, as a list or an array: one plan per shape.
                shape = re.sub(
                    r"\((?:'[^']*'|\d+)(?:, (?:'[^']*'|\d+))*\)|ARRAY\[[\d,]*\]",
                    "(...)",
                    text,
                )
                if text in ("BEGIN", "COMMIT", "ROLLBACK") or shape in seen:
                    continue
                seen.add(shape)
                described = shape if len(shape) < 90 else shape[:87] + "..."
                plans.append(explain(cursor, "purge", described, text))
    connection.close()
    return plans
